# Reference values from lme4 for interlace's core GLMM tests.
#
# Run from this directory:
#   cd tests/reference && Rscript lme4_core.R
#
# Reads the bundled datasets from ../../interlace/datasets/, (re)writes the
# simulated data sets to data/ (set.seed-based, written BEFORE any fitting and
# then read back from the CSV, so the fitted data are exactly what is on disk),
# fits every fixture with lme4 default settings, and writes lme4_core.json.

suppressPackageStartupMessages({
  library(lme4)
suppressPackageStartupMessages(library(glmmTMB))
  library(jsonlite)
})

ds_dir <- file.path("..", "..", "interlace", "datasets")
sim_dir <- "data"
dir.create(sim_dir, showWarnings = FALSE)

# ---------------------------------------------------------------------------
# Simulated data (written first, reproducible)
# ---------------------------------------------------------------------------
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240611)
n_groups <- 60L
n_per <- 25L
g_levels <- sprintf("g%02d", seq_len(n_groups))
sd_int <- 1.0; sd_slope <- 0.6; rho <- 0.3
z1 <- rnorm(n_groups); z2 <- rnorm(n_groups)
b0 <- sd_int * z1
b1 <- sd_slope * (rho * z1 + sqrt(1 - rho^2) * z2)
g_idx <- rep(seq_len(n_groups), each = n_per)
x <- round(rnorm(n_groups * n_per), 6)   # rounded so the CSV is exact
eta <- (-0.5 + b0[g_idx]) + (1.0 + b1[g_idx]) * x
y <- rbinom(length(eta), 1L, plogis(eta))
binom_slopes <- data.frame(g = g_levels[g_idx], x = x, y = y,
                           outcome = ifelse(y == 1L, "yes", "no"))
write.csv(binom_slopes, file.path(sim_dir, "binom_slopes.csv"),
          row.names = FALSE)

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
rd <- function(name, ...) read.csv(file.path(ds_dir, paste0(name, ".csv")), ...)

cbpp <- rd("cbpp", colClasses = c(herd = "factor", incidence = "numeric",
                                  size = "numeric", period = "factor"))
cbpp_num <- cbpp
cbpp_num$period <- as.numeric(as.character(cbpp$period))

grouseticks <- rd("grouseticks",
                  colClasses = c(INDEX = "factor", TICKS = "numeric",
                                 BROOD = "factor", HEIGHT = "numeric",
                                 YEAR = "factor", LOCATION = "factor",
                                 cHEIGHT = "numeric"))

seed_counts <- rd("seed_counts",
                  colClasses = c(count = "numeric", x1 = "numeric",
                                 x2 = "numeric", site = "factor",
                                 year = "factor"))

sleepstudy <- rd("sleepstudy", colClasses = c(Reaction = "numeric",
                                              Days = "numeric",
                                              Subject = "factor"))

binom_slopes <- read.csv(file.path(sim_dir, "binom_slopes.csv"),
                         colClasses = c(g = "factor", x = "numeric",
                                        y = "numeric", outcome = "character"))

# ---------------------------------------------------------------------------
# Record extraction
# ---------------------------------------------------------------------------
# Minimal JSON writer with shortest round-trip number formatting (up to 17
# significant digits; jsonlite caps output at 15).
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

record <- function(fit, formula_text, family, link, data_name,
                   control_note = "default") {
  ll <- logLik(fit)
  V <- as.matrix(vcov(fit))
  fe <- fixef(fit)
  th <- getME(fit, "theta")
  vc <- as.data.frame(VarCorr(fit))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i],
    var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i],
    vcov = vc$vcov[i],
    sdcor = vc$sdcor[i]))
  re <- ranef(fit)
  ranef_out <- lapply(re, function(df) list(
    levels = I(rownames(df)),
    columns = I(colnames(df)),
    values = unname(lapply(seq_len(nrow(df)),
                           function(i) I(as.numeric(df[i, , drop = TRUE]))))))
  ng <- ngrps(fit)
  msgs <- fit@optinfo$conv$lme4$messages
  out <- list(
    formula = formula_text,
    family = family,
    link = link,
    data = data_name,
    method = if (isGLMM(fit)) "glmer (Laplace, nAGQ = 1)" else "lmer (ML, REML = FALSE)",
    control = control_note,
    fixef = named_list(fe),
    se = named_list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(lapply(seq_len(nrow(V)), function(i) I(as.numeric(V[i, ])))),
    theta = I(as.numeric(th)),
    theta_names = I(names(th)),
    varcorr = varcorr,
    sigma = sigma(fit),
    loglik = as.numeric(ll),
    df = as.integer(attr(ll, "df")),
    aic = AIC(fit),
    bic = BIC(fit),
    deviance = deviance(fit),
    nobs = as.integer(nobs(fit)),
    ngroups = as.list(setNames(as.integer(ng), names(ng))),
    ranef = ranef_out,
    fitted_head = as.numeric(head(fitted(fit), 10)),
    scaled_resid_quantiles = as.numeric(quantile(residuals(fit, "pearson", scaled = TRUE))),
    fixef_correlation = unname(lapply(seq_len(nrow(V)), function(i) I(as.numeric(cov2cor(V)[i, ])))),
    converged_messages = if (is.null(msgs)) list() else as.list(msgs),
    optimizer_warnings = as.list(unlist(fit@optinfo$warnings)),
    singular = isSingular(fit)
  )
  if (isGLMM(fit)) {
    # Extra (not lme4's default): vcov from the RX factor (use.hessian = FALSE)
    V2 <- as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE)))
    out$se_rx <- named_list(setNames(sqrt(diag(V2)), names(fe)))
  }
  out
}

fixtures <- list()
failures <- setNames(list(), character(0))

run_fixture <- function(key, formula_text, data, data_name, family_obj = NULL,
                        reml = FALSE, control = NULL, control_note = "default",
                        start = NULL) {
  cat("\n==================== ", key, " ====================\n", sep = "")
  f <- as.formula(formula_text)
  fit <- tryCatch(
    withCallingHandlers({
      if (is.null(family_obj)) {
        lmer(f, data = data, REML = reml)
      } else {
        args <- list(formula = f, data = data, family = family_obj)
        if (!is.null(control)) args$control <- control
        if (!is.null(start)) args$start <- start
        do.call(glmer, args)
      }
    }, warning = function(w) {
      message("WARNING in ", key, ": ", conditionMessage(w))
      invokeRestart("muffleWarning")
    }),
    error = function(e) {
      message("ERROR in ", key, ": ", conditionMessage(e))
      e
    })
  if (inherits(fit, "error")) {
    failures[[key]] <<- conditionMessage(fit)
    return(invisible(NULL))
  }
  fit@call$data <- as.name(data_name)  # keep printed summary short
  print(summary(fit))
  fam <- if (is.null(family_obj)) "gaussian" else family_obj$family
  link <- if (is.null(family_obj)) "identity" else family_obj$link
  rec <- record(fit, formula_text, fam, link, data_name, control_note)
  if (!is.null(family_obj)) {
    # lme4's default PIRLS tolerance leaves a first-order error in the Laplace deviance that
    # its finite-difference Hessian amplifies (lme4 issues #289, #998). Two exact-Laplace
    # cross-references: lme4 with tight tolerances, and glmmTMB (automatic differentiation).
    tight <- suppressWarnings(glmer(f, data = data, family = family_obj,
      control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                             optCtrl = list(rhoend = 1e-10, maxfun = 1e5))))
    Vt <- as.matrix(vcov(tight))
    rec$tight <- list(
      control = "glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10))",
      fixef = named_list(fixef(tight)),
      se = named_list(setNames(sqrt(diag(Vt)), names(fixef(tight)))),
      theta = I(as.numeric(getME(tight, "theta"))),
      loglik = as.numeric(logLik(tight)))
    tmb <- tryCatch(glmmTMB(f, data = data, family = family_obj), error = function(e) NULL)
    if (!is.null(tmb)) {
      Vm <- as.matrix(vcov(tmb)$cond)
      rec$glmmTMB <- list(
        version = as.character(packageVersion("glmmTMB")),
        fixef = named_list(fixef(tmb)$cond),
        se = named_list(setNames(sqrt(diag(Vm)), names(fixef(tmb)$cond))),
        loglik = as.numeric(logLik(tmb)))
    }
  }
  fixtures[[key]] <<- rec
  invisible(fit)
}

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------
cbpp_f <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
run_fixture("cbpp_logit", cbpp_f, cbpp, "cbpp", binomial())
run_fixture("cbpp_numeric", cbpp_f, cbpp_num, "cbpp", binomial())
fixtures$cbpp_numeric$data_note <- "period converted to numeric (as.numeric(as.character(period)))"
run_fixture("cbpp_probit", cbpp_f, cbpp, "cbpp", binomial(link = "probit"))
run_fixture("cbpp_cloglog", cbpp_f, cbpp, "cbpp", binomial(link = "cloglog"))
run_fixture("cbpp_cauchit", cbpp_f, cbpp, "cbpp", binomial(link = "cauchit"))

run_fixture("grouseticks_pois",
            "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
            grouseticks, "grouseticks", poisson())
run_fixture("grouseticks_nested",
            "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD)",
            grouseticks, "grouseticks", poisson())

run_fixture("counts_crossed", "count ~ x1 + x2 + (1 | site) + (1 | year)",
            seed_counts, "seed_counts", poisson())
run_fixture("counts_site_sqrt", "count ~ x1 + x2 + (1 | site)",
            seed_counts, "seed_counts", poisson(link = "sqrt"))

run_fixture("binom_slopes", "y ~ x + (1 + x | g)",
            binom_slopes, "data/binom_slopes.csv", binomial())
run_fixture("binom_uncorr", "y ~ x + (1 + x || g)",
            binom_slopes, "data/binom_slopes.csv", binomial())

run_fixture("sleep_ml", "Reaction ~ Days + (Days | Subject)",
            sleepstudy, "sleepstudy")
run_fixture("sleep_uncorr_ml", "Reaction ~ Days + (Days || Subject)",
            sleepstudy, "sleepstudy")

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
out <- list(
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  generated_by = "lme4_core.R",
  notes = paste(
    "Default lme4 control for all fits unless a fixture's 'control' says otherwise.",
    "'se' and 'vcov' are lme4's default vcov() (for glmer: Hessian-based, use.hessian = TRUE);",
    "'se_rx' (glmer only) is vcov(fit, use.hessian = FALSE).",
    "'deviance' is deviance(fit): for glmer this is lme4's conditional deviance (sum of squared deviance residuals),",
    "NOT -2*loglik (which summary() prints in its 'deviance' column); for lmer (ML) it equals -2*loglik.",
    "Run-to-run note: with this R/lme4 build, repeated runs of this script occasionally give slightly different",
    "optima for the multi-term fits (seen: grouseticks_pois fixef differ ~4e-5 relative, loglik ~1.4e-9;",
    "counts_crossed ~1e-8), i.e. lme4's optimizer tolerance; compare parameters with tolerances >= 1e-4.",
    "Numbers are written with the shortest of 15/16/17 significant digits that round-trips exactly.",
    "Simulated data: RNGkind(Mersenne-Twister, Inversion, Rejection), set.seed(20240611)."),
  failed_fixtures = failures,
  fixtures = fixtures
)
writeLines(to_json(out), "lme4_core.json")
cat("\nWrote lme4_core.json with", length(fixtures), "fixtures;",
    length(failures), "failed\n")
