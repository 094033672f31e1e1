# Reference values from lme4 for interlace's adaptive Gauss-Hermite quadrature (nAGQ > 1).
#
# Run from this directory:
#   cd tests/reference && Rscript lme4_agq.R
#
# Writes data/sparse_binary.csv (simulated with set.seed, written BEFORE any fitting and read
# back, so the fitted data are exactly what is on disk), fits each fixture with lme4 at several
# nAGQ values, default control and tight control, times some fits, and writes lme4_agq.json.
#
# Log-likelihoods: for nAGQ > 1 lme4 evaluates the deviance from the family's deviance
# residuals, so its logLik() omits the saturated-model log-likelihood
#   sum_i log p(y_i | mu_i = y_i)
# (for the binomial: the log binomial coefficients and y log y terms; zero for 0/1 data with
# unit weights; for the Poisson: y log y - y - log y!). Each nAGQ > 1 record therefore also
# gives 'saturated_loglik' and 'loglik_full' = loglik + saturated_loglik, the log-likelihood
# with all constants at lme4's estimates (what interlace reports). For nAGQ = 1 lme4's logLik
# already includes all constants.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

ds_dir <- file.path("..", "..", "interlace", "datasets")
sim_dir <- "data"
dir.create(sim_dir, showWarnings = FALSE)

# ---------------------------------------------------------------------------
# Simulated sparse binary data (written first, reproducible)
# ---------------------------------------------------------------------------
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240917)
truth <- list(beta = c(-0.5, 1.0), sd = 2.0)
n_groups <- 300L
sizes <- sample(2:5, n_groups, replace = TRUE)
g_levels <- sprintf("s%03d", seq_len(n_groups))
g_idx <- rep(seq_len(n_groups), times = sizes)
b <- rnorm(n_groups, 0, truth$sd)
x <- round(rnorm(length(g_idx)), 6)   # rounded so the CSV is exact
y <- rbinom(length(g_idx), 1L, plogis(truth$beta[1] + truth$beta[2] * x + b[g_idx]))
write.csv(data.frame(g = g_levels[g_idx], x = x, y = y),
          file.path(sim_dir, "sparse_binary.csv"), row.names = FALSE)

sparse <- read.csv(file.path(sim_dir, "sparse_binary.csv"),
                   colClasses = c(g = "factor", x = "numeric", y = "numeric"))
cbpp <- read.csv(file.path(ds_dir, "cbpp.csv"),
                 colClasses = c(herd = "factor", incidence = "numeric",
                                size = "numeric", period = "factor"))
binom_slopes <- read.csv(file.path(sim_dir, "binom_slopes.csv"),   # written by lme4_core.R
                         colClasses = c(g = "factor", x = "numeric", y = "numeric",
                                        outcome = "character"))
seed_counts <- read.csv(file.path(ds_dir, "seed_counts.csv"),
                        colClasses = c(count = "numeric", x1 = "numeric", x2 = "numeric",
                                       site = "factor", year = "factor"))

# ---------------------------------------------------------------------------
# JSON writer (as lme4_core.R): shortest of 15/16/17 significant digits that round-trips
# ---------------------------------------------------------------------------
num_str <- function(x) {
  if (is.na(x) || is.nan(x)) return("null")
  if (is.infinite(x)) stop("infinite value cannot be written as JSON")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) break
  }
  s
}
str_str <- function(x) if (is.na(x)) "null" else as.character(toJSON(x, auto_unbox = TRUE))
scalar_str <- function(x) {
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(num_str(as.numeric(x)))
  str_str(as.character(x))
}
to_json <- function(x, indent = 0L) {
  pad <- strrep("  ", indent + 1L); pad0 <- strrep("  ", indent)
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (length(x) == 0L) return(if (is.null(nm)) "[]" else "{}")
    items <- vapply(x, to_json, "", indent = indent + 1L)
    if (!is.null(nm)) {
      items <- paste0(vapply(nm, str_str, ""), ": ", items)
      return(paste0("{\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "}"))
    }
    return(paste0("[\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "]"))
  }
  if (length(x) == 1L && !inherits(x, "AsIs")) return(scalar_str(x))
  paste0("[", paste(vapply(unclass(x), scalar_str, ""), collapse = ", "), "]")
}
named_list <- function(v) as.list(setNames(as.numeric(v), names(v)))

# ---------------------------------------------------------------------------
# Fitting and recording
# ---------------------------------------------------------------------------
tight_control <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                              optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
tight_note <- paste("glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-12,",
                    "optCtrl = list(rhoend = 1e-10, maxfun = 1e5))")

# sum_i log p(y_i | mu_i = y_i): what lme4's nAGQ > 1 logLik leaves out
saturated_loglik <- function(fit) {
  fam <- family(fit)$family
  yy <- getME(fit, "y")           # proportions for cbind() binomial responses
  w <- weights(fit, type = "prior")
  if (fam == "binomial") {
    k <- round(yy * w)
    return(sum(dbinom(k, w, yy, log = TRUE)))
  }
  if (fam == "poisson") return(sum(w * dpois(yy, yy, log = TRUE)))
  if (startsWith(fam, "Negative Binomial")) {
    th <- get(".Theta", envir = environment(family(fit)$aic))
    return(sum(w * dnbinom(yy, size = th, mu = yy, log = TRUE)))
  }
  stop("saturated log-likelihood not coded for family ", fam)
}

one_fit <- function(fit, nagq) {
  V <- as.matrix(vcov(fit))
  fe <- fixef(fit)
  th <- getME(fit, "theta")
  ll <- as.numeric(logLik(fit))
  msgs <- fit@optinfo$conv$lme4$messages
  out <- list(
    fixef = named_list(fe),
    se = named_list(setNames(sqrt(diag(V)), names(fe))),
    theta = I(as.numeric(th)),
    variance = as.numeric(th)^2,
    loglik = ll,
    deviance_m2ll = -2 * ll,
    converged_messages = if (is.null(msgs)) list() else as.list(msgs)
  )
  if (nagq > 1) {
    sat <- saturated_loglik(fit)
    out$saturated_loglik <- sat
    out$loglik_full <- ll + sat
  }
  out
}

fit_quiet <- function(f, data, family, nagq, control = NULL) {
  args <- list(formula = as.formula(f), data = data, family = family, nAGQ = nagq)
  if (!is.null(control)) args$control <- control
  withCallingHandlers(do.call(glmer, args), warning = function(w) {
    message("WARNING (", f, ", nAGQ = ", nagq, "): ", conditionMessage(w))
    invokeRestart("muffleWarning")
  })
}

time_fit <- function(f, data, family, nagq, reps = 11L) {
  fit_quiet(f, data, family, nagq)  # warm-up
  t <- vapply(seq_len(reps), function(i) {
    t0 <- proc.time()[["elapsed"]]
    fit_quiet(f, data, family, nagq)
    proc.time()[["elapsed"]] - t0
  }, 0.0)
  list(median_seconds = median(t), min_seconds = min(t), reps = reps,
       note = "elapsed time of glmer() with default control, warm R process")
}

fixture <- function(f, data, data_name, family, nagqs, timing_nagq = NULL) {
  cat("\n====================", f, "on", data_name, "====================\n")
  fits <- list()
  for (k in nagqs) {
    d <- fit_quiet(f, data, family, k)
    tt <- fit_quiet(f, data, family, k, tight_control)
    rec <- one_fit(d, k)
    rec$tight <- one_fit(tt, k)
    cat(sprintf("nAGQ = %2d  default fixef %s  theta %.8f | tight fixef %s  theta %.8f\n", k,
                paste(sprintf("%.8f", fixef(d)), collapse = " "), getME(d, "theta"),
                paste(sprintf("%.8f", fixef(tt)), collapse = " "), getME(tt, "theta")))
    fits[[paste0("nAGQ_", k)]] <- rec
  }
  out <- list(formula = f, data = data_name, family = family$family, link = family$link,
              nobs = nrow(data), fits = fits)
  if (!is.null(timing_nagq)) {
    out$timing <- list()
    for (k in timing_nagq) {
      tk <- time_fit(f, data, family, k)
      out$timing[[paste0("nAGQ_", k)]] <- tk
      cat(sprintf("timing nAGQ = %d: median %.4f s\n", k, tk$median_seconds))
    }
  }
  out
}

fixtures <- list()
fixtures$cbpp <- fixture("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         cbpp, "cbpp", binomial(), c(1L, 25L), timing_nagq = 25L)
fixtures$sparse_binary <- fixture("y ~ x + (1 | g)", sparse, "data/sparse_binary.csv",
                                  binomial(), c(1L, 5L, 10L, 20L, 25L),
                                  timing_nagq = c(20L, 1L, 5L, 10L, 25L))
fixtures$sparse_binary$truth <- list(fixef = list("(Intercept)" = truth$beta[1],
                                                  x = truth$beta[2]),
                                     sd = truth$sd, variance = truth$sd^2)
fixtures$sparse_binary$simulation <- paste(
  "RNGkind(Mersenne-Twister, Inversion, Rejection); set.seed(20240917);",
  "300 groups of sample(2:5) observations; b ~ N(0, 2^2); x ~ N(0, 1) rounded to 6 digits;",
  "y ~ Bernoulli(plogis(-0.5 + x + b))")
fixtures$poisson_counts <- fixture("count ~ x1 + x2 + (1 | site)", seed_counts, "seed_counts",
                                   poisson(), c(1L, 10L))
# NB2 with its shape fixed at 2 (the seed's NegativeBinomial2Family(theta=2.0)), as a family
# beyond binomial/Poisson going through the same quadrature.
fixtures$nb2_counts <- fixture("count ~ x1 + x2 + (1 | site)", seed_counts, "seed_counts",
                               MASS::negative.binomial(theta = 2), c(1L, 10L))
# A single random slope without intercept is also a scalar random-effect term.
fixtures$scalar_slope <- fixture("y ~ x + (0 + x | g)", binom_slopes, "data/binom_slopes.csv",
                                 binomial(), c(1L, 10L))
fixtures$nb2_counts$family_note <- "MASS::negative.binomial(theta = 2): NB2 with fixed shape 2"

out <- list(
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  generated_by = "lme4_agq.R",
  notes = paste(
    "Each fit: lme4 default control, and 'tight' =", tight_note, "(lme4's default PIRLS",
    "tolerance leaves errors up to ~1e-3 relative in its estimates).",
    "'variance' is theta^2 (the random-intercept variance; binomial and Poisson have no scale).",
    "'se' is lme4's default vcov() (Hessian-based).",
    "For nAGQ > 1 lme4's logLik omits the saturated log-likelihood sum_i log p(y_i | mu_i = y_i)",
    "(binomial coefficients and y log y terms; zero for Bernoulli data);",
    "'loglik_full' = loglik + saturated_loglik includes all constants.",
    "Timings ('timing', per nAGQ): median elapsed seconds of 11 repeated glmer() fits with",
    "default control in a warm R process (machine-dependent; compare on the same machine)."),
  fixtures = fixtures
)
writeLines(to_json(out), "lme4_agq.json")
cat("\nWrote lme4_agq.json\n")
