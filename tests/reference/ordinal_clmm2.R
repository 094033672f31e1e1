# Reference values from R's ordinal::clmm for interlace.clmm()'s options (issue 16): the
# threshold structures ("symmetric", "equidistant"), the cauchit link, and a model with two
# random terms on ordinal's soup data.
#
# Run from this directory:
#   cd tests/reference && Rscript ordinal_clmm2.R        (writes ordinal_clmm2.json; ~3 min)
#
# Data: interlace/datasets/wine.csv (ordinal's `wine`: rating an ordered factor 1 < ... < 5;
# temp, contact, judge factors) and interlace/datasets/soup.csv (ordinal's `soup`, written by
# interlace/datasets/export_from_r.R: SURENESS an ordered factor 1 < ... < 6; PROD, RESP
# factors), read back here as interlace reads them.
#
# Each model is fitted with ordinal's default control ("default") and with tight control
# ("tight": clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)),
# as tests/reference/ordinal_clmm.R does; ordinal's default fits stop early on several of these
# (soup: max.grad 6e-3), so the tight fit is the reference for estimates and log-likelihood.
# Recorded per fit: ordinal's threshold coefficients (coef(): alpha, with tau = tJac alpha),
# the thresholds (fit$Theta), tJac, beta, standard errors (sqrt(diag(vcov))), the variance
# components, logLik, cond.H and the "Threshold coefficients" table as summary() prints it.
#
# Sign convention (ordinal's): P(Y <= j) = F(tau_j - x'beta - z'b).

suppressPackageStartupMessages({
  library(ordinal)
  library(jsonlite)
})

ds_dir <- file.path("..", "..", "interlace", "datasets")

wine <- read.csv(file.path(ds_dir, "wine.csv"),
                 colClasses = c(response = "numeric", rating = "character", temp = "factor",
                                contact = "factor", bottle = "factor", judge = "factor"))
wine$rating <- factor(wine$rating, levels = as.character(1:5), ordered = TRUE)

soup <- read.csv(file.path(ds_dir, "soup.csv"), colClasses = "character")
soup$SURENESS <- factor(soup$SURENESS, levels = as.character(1:6), ordered = TRUE)
soup$PROD <- factor(soup$PROD)
soup$RESP <- factor(soup$RESP)

source("json_writer.R")  # num_str, to_json, named_list

# ---------------------------------------------------------------------------
# Fitting and recording
# ---------------------------------------------------------------------------
tight_control <- clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)
tight_note <- "clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)"

fit_quiet <- function(f, data, link, threshold, control = NULL) {
  args <- list(formula = as.formula(f), data = data, link = link, threshold = threshold)
  if (!is.null(control)) args$control <- control
  nwarn <- 0L
  fit <- withCallingHandlers(do.call(clmm, args), warning = function(w) {
    nwarn <<- nwarn + 1L
    invokeRestart("muffleWarning")
  })
  attr(fit, "nwarn") <- nwarn
  fit
}

threshold_table <- function(fit) {
  out <- capture.output(print(summary(fit)))
  i <- grep("^Threshold coefficients:", out)
  out[i:length(out)][nzchar(out[i:length(out)])]
}

one_fit <- function(fit) {
  V <- vcov(fit)
  vc <- VarCorr(fit)
  vcl <- list()
  for (nm in names(vc)) {
    m <- vc[[nm]]
    vcl[[nm]] <- list(names = I(colnames(m)), cov = matrix(as.numeric(m), nrow(m)),
                      sd = I(as.numeric(attr(m, "stddev"))))
  }
  list(
    threshold = fit$threshold,
    link = fit$link,
    alpha = named_list(fit$alpha),
    Theta = named_list(setNames(as.numeric(fit$Theta), colnames(fit$Theta))),
    tJac = unname(fit$tJac),
    beta = named_list(fit$beta),
    se = named_list(sqrt(diag(V))),
    vcov_names = I(rownames(V)),
    varcorr = vcl,
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    nobs = fit$dims$nobs,
    edf = fit$edf,
    max_gradient = max(abs(fit$gradient)),
    cond_H = if (!is.null(fit$Hessian)) {
      ev <- eigen(fit$Hessian, only.values = TRUE)$values; max(ev) / min(ev)
    } else NULL,
    n_warnings = attr(fit, "nwarn"),
    summary_thresholds = I(threshold_table(fit))
  )
}

fixture <- function(f, data, data_name, link = "logit", threshold = "flexible") {
  cat("\n==========", f, "on", data_name, "link", link, "threshold", threshold, "==========\n")
  d <- fit_quiet(f, data, link, threshold)
  tt <- fit_quiet(f, data, link, threshold, tight_control)
  cat(sprintf("default: logLik %.10f  coef %s\n", logLik(d),
              paste(sprintf("%.7f", coef(d)), collapse = " ")))
  cat(sprintf("tight:   logLik %.10f  coef %s\n", logLik(tt),
              paste(sprintf("%.7f", coef(tt)), collapse = " ")))
  list(formula = f, data = data_name, link = link, threshold = threshold,
       default = one_fit(d), tight = one_fit(tt), tight_control = tight_note)
}

# ---------------------------------------------------------------------------
# Independent Laplace log-likelihood for the cauchit fit (one scalar random intercept): own
# code, as tests/reference/ordinal_clmm.R's "independent" (1-D Newton per judge to
# |h'| < 1e-12 from 0, observed information), maximised with nlminb from ordinal's estimates.
# ordinal's reported logLik for link = "cauchit" is 2.2e-4 below this Laplace approximation
# evaluated at ordinal's own estimates ("loglik_at_ordinal"): the Cauchy density is not
# log-concave, rows have negative observed information, and ordinal's inner iterations end
# elsewhere. The other links agree with the independent code to 1e-10 (ordinal_clmm.R).
# ---------------------------------------------------------------------------
cauchy_loglik <- function(y, X, g) {
  F <- pcauchy; f <- dcauchy; fp <- function(x) -2 * x / pi / (1 + x^2)^2
  y <- as.integer(y); K <- max(y); gi <- as.integer(g)
  function(par) {
    alpha <- par[1:(K - 1)]; beta <- par[K:(K - 1 + ncol(X))]; sd <- par[length(par)]
    if (any(diff(alpha) <= 0) || sd < 0) return(-Inf)
    up <- c(alpha, Inf)[y]; lo <- c(-Inf, alpha)[y]; xb <- drop(X %*% beta)
    total <- 0
    for (j in seq_len(nlevels(g))) {
      r <- gi == j; a0 <- up[r] - xb[r]; b0 <- lo[r] - xb[r]
      h <- function(u) sum(log(F(a0 - sd * u) - F(b0 - sd * u))) - u^2 / 2
      deriv <- function(u) {
        a <- a0 - sd * u; bb <- b0 - sd * u; P <- F(a) - F(bb)
        fa <- ifelse(is.finite(a), f(a), 0); fb <- ifelse(is.finite(bb), f(bb), 0)
        ga <- ifelse(is.finite(a), fp(a), 0); gb <- ifelse(is.finite(bb), fp(bb), 0)
        c(sum(-(fa - fb) / P) * sd - u, -sd^2 * sum(((fa - fb) / P)^2 - (ga - gb) / P) - 1)
      }
      u <- 0
      for (it in 1:200) {
        d <- deriv(u); step <- -d[1] / d[2]; un <- u + step
        while (!is.finite(h(un)) || h(un) < h(u) - 1e-12) { step <- step / 2; un <- u + step }
        u <- un
        if (abs(d[1]) < 1e-12) break
      }
      total <- total + h(u) - 0.5 * log(-deriv(u)[2])
    }
    total
  }
}

independent_cauchit <- function(fit) {
  X <- model.matrix(~ temp + contact, wine)[, -1, drop = FALSE]
  ll <- cauchy_loglik(wine$rating, X, wine$judge)
  start <- c(fit$alpha, fit$beta, fit$ST[[1]][1, 1])
  opt <- nlminb(start, function(p) -ll(p), lower = c(rep(-Inf, length(start) - 1), 0),
                control = list(rel.tol = 1e-14, x.tol = 1e-12, eval.max = 1e4, iter.max = 1e4))
  list(alpha = named_list(setNames(opt$par[1:4], names(fit$alpha))),
       beta = named_list(setNames(opt$par[5:6], names(fit$beta))),
       sd = opt$par[7], loglik = -opt$objective, loglik_at_ordinal = ll(start),
       nlminb_message = opt$message)
}

WINE_F <- "rating ~ temp + contact + (1 | judge)"
SOUP_F <- "SURENESS ~ PROD + (1 | RESP) + (1 | RESP:PROD)"

fixtures <- list()
fixtures$wine_symmetric <- fixture(WINE_F, wine, "wine", threshold = "symmetric")
fixtures$wine_equidistant <- fixture(WINE_F, wine, "wine", threshold = "equidistant")
fixtures$wine_cauchit <- fixture(WINE_F, wine, "wine", link = "cauchit")
fixtures$wine_cauchit$independent <- independent_cauchit(
  fit_quiet(WINE_F, wine, "cauchit", "flexible", tight_control))
cat(sprintf("independent cauchit: logLik %.10f (at ordinal's estimates %.10f)\n",
            fixtures$wine_cauchit$independent$loglik,
            fixtures$wine_cauchit$independent$loglik_at_ordinal))
fixtures$wine_probit_symmetric <- fixture(WINE_F, wine, "wine", link = "probit",
                                          threshold = "symmetric")
fixtures$wine_null_equidistant <- fixture("rating ~ 1 + (1 | judge)", wine, "wine",
                                          threshold = "equidistant")
fixtures$soup_flexible <- fixture(SOUP_F, soup, "soup")
fixtures$soup_symmetric <- fixture(SOUP_F, soup, "soup", threshold = "symmetric")
fixtures$soup_equidistant <- fixture(SOUP_F, soup, "soup", threshold = "equidistant")

out <- list(
  generated_by = "tests/reference/ordinal_clmm2.R",
  R_version = R.version.string,
  ordinal_version = as.character(packageVersion("ordinal")),
  sign_convention = "P(Y <= j) = F(tau_j - x'beta - z'b), tau = tJac alpha",
  beta_names = list(tempwarm = "temp[T.warm]", contactyes = "contact[T.yes]",
                    PRODTest = "PROD[T.Test]"),
  fixtures = fixtures
)
writeLines(to_json(out), "ordinal_clmm2.json")
cat("\nwrote ordinal_clmm2.json\n")
