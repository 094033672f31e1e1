# Reference values from R's ordinal::clmm for interlace.clmm() (cumulative link mixed models).
#
# Run from this directory:
#   cd tests/reference && Rscript ordinal_clmm.R
#
# Data: interlace/datasets/wine.csv (a copy of ../shared/data/wine.csv, ordinal's `wine`), with
# rating an ordered factor 1 < 2 < 3 < 4 < 5 and temp, contact, judge, bottle factors; and
# data/clmm_sim.csv, simulated here with set.seed (written BEFORE any fitting and read back).
#
# Each model is fitted with ordinal's default control ("default") and with tight control
# ("tight": clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)).
# ordinal's inner Newton iterations for the random-effect modes stop at |gradient| < gradTol
# (1e-4 by default), and its standard errors come from finite differences of that objective, so
# the SEs of the two controls differ by ~1% (by up to 28% for the Gumbel links); where the
# default fit is converged the estimates and log-likelihoods of the two agree to ~1e-5, but
# the default fits of wine_null, the Gumbel links and sim_logit stop early (log-likelihood off
# by 1e-4 to 5e-3). ordinal reports the SE of "ST1" on the log(SD) scale.
#
# "independent": for the models with one scalar random intercept, this script also evaluates
# the Laplace / adaptive Gauss-Hermite log-likelihood with its own code (1-D Newton per judge to
# |h'| < 1e-12, observed information, Golub-Welsch nodes), maximises it with nlminb from
# ordinal's estimates and takes SEs from numDeriv::hessian (Richardson). It agrees with ordinal
# within ordinal's accuracy and reaches a log-likelihood at least as high (to 1e-13) as
# ordinal's tight fit on every fixture: the sharper reference for interlace.
#
# Sign convention (ordinal's): P(Y <= j) = F(alpha_j - x'beta - b_judge).

suppressPackageStartupMessages({
  library(ordinal)
  library(jsonlite)
  library(numDeriv)
})

ds_dir <- file.path("..", "..", "interlace", "datasets")
sim_dir <- "data"
dir.create(sim_dir, showWarnings = FALSE)

# ---------------------------------------------------------------------------
# Simulated data (written first, reproducible)
# ---------------------------------------------------------------------------
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240611)
sim_truth <- list(alpha = c(-1.0, 0.5, 2.0), beta = 0.8, sd = 1.2)
n_g <- 120L
sizes <- sample(3:8, n_g, replace = TRUE)
g_idx <- rep(seq_len(n_g), times = sizes)
b <- rnorm(n_g, 0, sim_truth$sd)
x <- round(rnorm(length(g_idx)), 6)
eta <- sim_truth$beta * x + b[g_idx]
cum <- sapply(sim_truth$alpha, function(a) plogis(a - eta))
u <- runif(length(g_idx))
yk <- 1L + rowSums(u > cum)
sim_levels <- c("low", "mid", "high", "top")
write.csv(data.frame(g = sprintf("g%03d", g_idx), x = x, y = sim_levels[yk]),
          file.path(sim_dir, "clmm_sim.csv"), row.names = FALSE)

sim <- read.csv(file.path(sim_dir, "clmm_sim.csv"),
                colClasses = c(g = "factor", x = "numeric", y = "character"))
sim$y <- factor(sim$y, levels = sim_levels, ordered = TRUE)

wine <- read.csv(file.path(ds_dir, "wine.csv"),
                 colClasses = c(response = "numeric", rating = "character", temp = "factor",
                                contact = "factor", bottle = "factor", judge = "factor"))
wine$rating <- factor(wine$rating, levels = as.character(1:5), ordered = TRUE)

source("json_writer.R")  # num_str, to_json, named_list

# ---------------------------------------------------------------------------
# Links: the cumulative distribution F of ordinal's latent variable
# ---------------------------------------------------------------------------
cdf <- list(
  logit = plogis,
  probit = pnorm,
  cloglog = function(x) -expm1(-exp(x)),
  loglog = function(x) exp(-exp(-x))
)
pdf <- list(
  logit = dlogis,
  probit = dnorm,
  cloglog = function(x) exp(x - exp(x)),
  loglog = function(x) exp(-x - exp(-x))
)
dpdf <- list(  # f'(x)
  logit = function(x) { p <- plogis(x); dlogis(x) * (1 - 2 * p) },
  probit = function(x) -x * dnorm(x),
  cloglog = function(x) exp(x - exp(x)) * (1 - exp(x)),
  loglog = function(x) exp(-x - exp(-x)) * (exp(-x) - 1)
)

# P(Y = y | eta) per row, for thresholds alpha (ordinal's sign convention)
cat_prob_matrix <- function(alpha, eta, link) {
  F <- cdf[[link]]
  cum <- cbind(0, sapply(alpha, function(a) F(a - eta)), 1)
  cum[, -1, drop = FALSE] - cum[, -ncol(cum), drop = FALSE]
}

# ---------------------------------------------------------------------------
# Independent Laplace / AGQ log-likelihood for one scalar random intercept
# ---------------------------------------------------------------------------
gh_normal <- function(k) {  # Golub-Welsch: nodes and weights for the N(0, 1) density
  if (k == 1L) return(list(z = 0, w = 1))
  J <- matrix(0, k, k)
  off <- sqrt(seq_len(k - 1L))
  J[cbind(1:(k - 1L), 2:k)] <- off
  J[cbind(2:k, 1:(k - 1L))] <- off
  e <- eigen(J, symmetric = TRUE)
  o <- order(e$values)
  list(z = e$values[o], w = (e$vectors[1, o])^2)
}

make_loglik <- function(y, X, g, link, nagq) {
  F <- cdf[[link]]; f <- pdf[[link]]; fp <- dpdf[[link]]
  y <- as.integer(y); K <- max(y); ng <- nlevels(g); gi <- as.integer(g)
  gh <- gh_normal(nagq)
  function(par) {
    alpha <- par[1:(K - 1)]
    beta <- par[K:(K - 1 + ncol(X))]
    sd <- par[length(par)]
    if (any(diff(alpha) <= 0) || sd < 0) return(-Inf)
    up <- c(alpha, Inf)[y]; lo <- c(-Inf, alpha)[y]
    xb <- drop(X %*% beta)
    total <- 0
    for (j in seq_len(ng)) {
      r <- gi == j
      a0 <- up[r] - xb[r]; b0 <- lo[r] - xb[r]
      h <- function(u) sum(log(F(a0 - sd * u) - F(b0 - sd * u))) - u^2 / 2
      deriv <- function(u) {
        a <- a0 - sd * u; bb <- b0 - sd * u
        P <- F(a) - F(bb)
        fa <- ifelse(is.finite(a), f(a), 0); fb <- ifelse(is.finite(bb), f(bb), 0)
        ga <- ifelse(is.finite(a), fp(a), 0); gb <- ifelse(is.finite(bb), fp(bb), 0)
        d1 <- sum(-(fa - fb) / P) * sd - u
        info <- ((fa - fb) / P)^2 - (ga - gb) / P
        d2 <- -sd^2 * sum(info) - 1
        c(d1, d2)
      }
      u <- 0
      for (it in 1:200) {
        d <- deriv(u)
        step <- -d[1] / d[2]
        un <- u + step
        while (!is.finite(h(un)) || h(un) < h(u) - 1e-12) { step <- step / 2; un <- u + step }
        u <- un
        if (abs(d[1]) < 1e-12) break
      }
      d <- deriv(u)
      s <- 1 / sqrt(-d[2])
      terms <- vapply(seq_along(gh$z), function(k)
        h(u + s * gh$z[k]) + gh$z[k]^2 / 2 + log(gh$w[k]), 0)
      m <- max(terms)
      total <- total + log(s) + m + log(sum(exp(terms - m)))
    }
    total
  }
}

# exact marginal log-likelihood (adaptive integrate() per group) at a parameter vector
exact_loglik <- function(y, X, g, link, par) {
  F <- cdf[[link]]
  y <- as.integer(y); K <- max(y); gi <- as.integer(g)
  alpha <- par[1:(K - 1)]; beta <- par[K:(K - 1 + ncol(X))]; sd <- par[length(par)]
  up <- c(alpha, Inf)[y]; lo <- c(-Inf, alpha)[y]
  xb <- drop(X %*% beta)
  sum(vapply(seq_len(nlevels(g)), function(j) {
    r <- gi == j
    lik <- function(u) vapply(u, function(uu)
      exp(sum(log(F(up[r] - xb[r] - sd * uu) - F(lo[r] - xb[r] - sd * uu)))) * dnorm(uu), 0)
    log(integrate(lik, -Inf, Inf, rel.tol = 1e-12, abs.tol = 0)$value)
  }, 0))
}

independent <- function(fit, data, resp, xcols, group, link, nagq) {
  X <- model.matrix(as.formula(paste("~", paste(xcols, collapse = "+"))), data)[, -1, drop = FALSE]
  ll <- make_loglik(data[[resp]], X, data[[group]], link, nagq)
  K <- nlevels(data[[resp]])
  start <- c(fit$alpha, fit$beta, fit$ST[[1]][1, 1])
  opt <- nlminb(start, function(p) -ll(p),
                lower = c(rep(-Inf, length(start) - 1), 0),
                control = list(rel.tol = 1e-14, x.tol = 1e-12, eval.max = 1e4, iter.max = 1e4))
  H <- hessian(function(p) -ll(p), opt$par, method.args = list(r = 6))
  V <- solve(H)
  nm <- c(names(fit$alpha), names(fit$beta), "ST1")
  out <- list(
    thresholds = named_list(setNames(opt$par[1:(K - 1)], names(fit$alpha))),
    beta = named_list(setNames(opt$par[K:(length(opt$par) - 1)], names(fit$beta))),
    sd = opt$par[length(opt$par)],
    variance = opt$par[length(opt$par)]^2,
    se = named_list(setNames(sqrt(diag(V)), nm)),
    loglik = -opt$objective,
    loglik_at_ordinal_default = ll(start),
    nlminb_message = opt$message,
    note = paste("own Laplace/AGQ code (1-D Newton per group to |h'| < 1e-12, observed",
                 "information, Golub-Welsch nodes), nlminb rel.tol = 1e-14 from ordinal's",
                 "estimates; SEs from numDeriv::hessian (Richardson, r = 6) of -logLik in",
                 "(thresholds, beta, sd)")
  )
  if (nagq > 1) out$exact_loglik_at_optimum <- exact_loglik(data[[resp]], X, data[[group]],
                                                            link, opt$par)
  out
}

# ---------------------------------------------------------------------------
# Fitting and recording
# ---------------------------------------------------------------------------
tight_control <- clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)
tight_note <- "clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max = 1e4, iter.max = 1e4)"

fit_quiet <- function(f, data, link, nagq, control = NULL) {
  args <- list(formula = as.formula(f), data = data, link = link, nAGQ = nagq)
  if (!is.null(control)) args$control <- control
  nwarn <- 0L
  fit <- withCallingHandlers(do.call(clmm, args), warning = function(w) {
    nwarn <<- nwarn + 1L
    invokeRestart("muffleWarning")
  })
  attr(fit, "nwarn") <- nwarn
  fit
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
    thresholds = named_list(fit$alpha),
    beta = named_list(fit$beta),
    se = named_list(sqrt(diag(V))),
    vcov_names = I(rownames(V)),
    vcov = unname(V),
    varcorr = vcl,
    ST = lapply(fit$ST, function(m) unname(as.matrix(m))),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    nobs = fit$dims$nobs,
    edf = fit$edf,
    max_gradient = max(abs(fit$gradient)),
    cond_H = if (!is.null(fit$Hessian)) {
      ev <- eigen(fit$Hessian, only.values = TRUE)$values; max(ev) / min(ev)
    } else NULL,
    optimizer_convergence = fit$optRes$convergence,
    optimizer_message = fit$optRes$message,
    n_warnings = attr(fit, "nwarn"),
    ranef = lapply(ranef(fit), function(d) named_list(setNames(d[, 1], rownames(d)))),
    fitted = I(as.numeric(fitted(fit)))
  )
}

probs_record <- function(fit, data, xform, link, group) {
  X <- model.matrix(as.formula(xform), data)[, -1, drop = FALSE]
  xb <- drop(X %*% fit$beta)
  b <- ranef(fit)[[group]]
  bj <- b[as.character(data[[group]]), 1]
  list(
    conditional = cat_prob_matrix(fit$alpha, xb + bj, link),
    population = cat_prob_matrix(fit$alpha, xb, link)
  )
}

time_fit <- function(f, data, link, nagq, reps = 21L) {
  fit_quiet(f, data, link, nagq)  # warm-up
  t <- vapply(seq_len(reps), function(i) {
    t0 <- proc.time()[["elapsed"]]
    fit_quiet(f, data, link, nagq)
    proc.time()[["elapsed"]] - t0
  }, 0.0)
  list(median_seconds = median(t), min_seconds = min(t), reps = reps,
       note = "elapsed time of clmm() with default control, warm R process")
}

# ordinal_link: the link argument given to clmm(). ordinal 2022.11-16's clmm() swaps "cloglog"
# and "loglog" relative to their documented definitions (which clm() follows): clmm(link =
# "cloglog") fits F(x) = exp(-exp(-x)) and clmm(link = "loglog") fits F(x) = 1 - exp(-exp(x)).
# The fixtures are keyed by the documented link (interlace's), so wine_cloglog is clmm(link =
# "loglog"); "link_check" shows it: the largest difference between the fit's fitted.values and
# P(Y = y | u^) computed with the documented F of `link` (~1e-16) and with the other one.
link_check <- function(fit, data, xform, group, resp, link) {
  X <- model.matrix(as.formula(xform), data)[, -1, drop = FALSE]
  eta <- drop(X %*% fit$beta) + ranef(fit)[[group]][as.character(data[[group]]), 1]
  y <- as.integer(data[[resp]])
  sapply(c(logit = "logit", probit = "probit", cloglog = "cloglog", loglog = "loglog"),
         function(l) {
           P <- cat_prob_matrix(fit$alpha, eta, l)
           max(abs(P[cbind(seq_along(y), y)] - fit$fitted.values))
         }, simplify = FALSE)
}

fixture <- function(f, data, data_name, link, nagq, indep = NULL, probs = NULL, timing = FALSE,
                    ordinal_link = link) {
  cat("\n==========", f, "on", data_name, "link", link, "(clmm link", ordinal_link, ") nAGQ",
      nagq, "==========\n")
  d <- fit_quiet(f, data, ordinal_link, nagq)
  tt <- fit_quiet(f, data, ordinal_link, nagq, tight_control)
  out <- list(formula = f, data = data_name, link = link, ordinal_link = ordinal_link,
              nAGQ = nagq, default = one_fit(d), tight = one_fit(tt), tight_control = tight_note)
  if (!is.null(probs))
    out$link_check <- link_check(tt, data, probs$xform, probs$group, indep$resp, link)
  cat(sprintf("default: logLik %.10f  coef %s\n", logLik(d),
              paste(sprintf("%.7f", coef(d)), collapse = " ")))
  cat(sprintf("tight:   logLik %.10f  coef %s\n", logLik(tt),
              paste(sprintf("%.7f", coef(tt)), collapse = " ")))
  if (!is.null(probs)) out$probabilities <- probs_record(tt, data, probs$xform, link, probs$group)
  if (!is.null(indep)) {
    out$independent <- independent(tt, data, indep$resp, indep$x, indep$group, link, nagq)
    cat(sprintf("indep:   logLik %.10f  coef %s\n", out$independent$loglik,
                paste(sprintf("%.7f", c(unlist(out$independent$thresholds),
                                        unlist(out$independent$beta))), collapse = " ")))
  }
  if (timing) {
    out$timing <- time_fit(f, data, ordinal_link, nagq)
    cat(sprintf("timing: median %.4f s\n", out$timing$median_seconds))
  }
  out
}

WINE_F <- "rating ~ temp + contact + (1 | judge)"
wine_indep <- list(resp = "rating", x = c("temp", "contact"), group = "judge")
wine_probs <- list(xform = "~ temp + contact", group = "judge")

fixtures <- list()
fixtures$wine_logit <- fixture(WINE_F, wine, "wine", "logit", 1L, wine_indep, wine_probs, TRUE)
fixtures$wine_probit <- fixture(WINE_F, wine, "wine", "probit", 1L, wine_indep, wine_probs, TRUE)
fixtures$wine_cloglog <- fixture(WINE_F, wine, "wine", "cloglog", 1L, wine_indep, wine_probs,
                                 ordinal_link = "loglog")
fixtures$wine_loglog <- fixture(WINE_F, wine, "wine", "loglog", 1L, wine_indep, wine_probs,
                                ordinal_link = "cloglog")
fixtures$wine_logit_agq10 <- fixture(WINE_F, wine, "wine", "logit", 10L, wine_indep, wine_probs,
                                     TRUE)
fixtures$wine_probit_agq10 <- fixture(WINE_F, wine, "wine", "probit", 10L, wine_indep)
fixtures$wine_null <- fixture("rating ~ 1 + (1 | judge)", wine, "wine", "logit", 1L)
fixtures$wine_crossed <- fixture("rating ~ temp + contact + (1 | judge) + (1 | bottle)", wine,
                                 "wine", "logit", 1L)
fixtures$wine_slope <- fixture("rating ~ temp + contact + (1 + temp | judge)", wine, "wine",
                               "logit", 1L)
fixtures$sim_logit <- fixture("y ~ x + (1 | g)", sim, "data/clmm_sim.csv", "logit", 1L,
                              list(resp = "y", x = "x", group = "g"), timing = TRUE)
fixtures$sim_logit_agq7 <- fixture("y ~ x + (1 | g)", sim, "data/clmm_sim.csv", "logit", 7L,
                                   list(resp = "y", x = "x", group = "g"))
fixtures$sim_logit$truth <- sim_truth
fixtures$sim_logit$simulation <- paste(
  "RNGkind(Mersenne-Twister, Inversion, Rejection); set.seed(20240611); 120 groups of",
  "sample(3:8) rows; b ~ N(0, 1.2^2); x ~ N(0, 1) rounded to 6 digits;",
  "P(y <= j) = plogis(alpha_j - 0.8 x - b), alpha = (-1, 0.5, 2); levels low < mid < high < top")

out <- list(
  generated_by = "tests/reference/ordinal_clmm.R",
  R_version = R.version.string,
  ordinal_version = as.character(packageVersion("ordinal")),
  sign_convention = "P(Y <= j) = F(alpha_j - x'beta - b)",
  beta_names = list(tempwarm = "temp[T.warm]", contactyes = "contact[T.yes]", x = "x"),
  fixtures = fixtures
)
writeLines(to_json(out), "ordinal_clmm.json")
cat("\nwrote ordinal_clmm.json\n")
