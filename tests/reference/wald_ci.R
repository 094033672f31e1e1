# Reference values for interlace's Wald intervals, statsmodels-style names, tidy() and the
# conditional variances of the random effects (tests/test_wald.py, tests/test_tidy.py).
# Run from this directory:  Rscript wald_ci.R   -> wald_ci.json
#
# glmmTMB's confint(m, method = "wald", full = TRUE) (glmmTMB 1.1.5): fixed effects and
# zero-inflation coefficients are estimate -/+ z SE; random-effect SDs, correlations and the
# residual SD / dispersion (sigma(m)) come from glmmTMB's .CI_univariate_monotone: every
# internal parameter (log SD, the correlation parameter rho / sqrt(1 - rho^2) of a 2 x 2 term,
# log sigma^2 or log theta) is moved by -/+ z SE and VarCorr / sigma recomputed there, i.e. a
# symmetric interval on that internal scale, back-transformed.
# lme4's confint(method = "Wald"): fixed effects only (NA for the variance parameters).
# ordinal's confint(clmm): thresholds and coefficients, estimate -/+ z SE.
# broom.mixed::tidy: lmerTest and glmer fits (conf.int = TRUE), clmm, glmmTMB (no conf.int:
# broom.mixed 0.2.9.4's Wald intervals fail on glmmTMB 1.1.5).
# lme4's ranef(fit, condVar = TRUE): the postVar arrays (k x k x levels).
suppressPackageStartupMessages({
  library(glmmTMB); library(lme4); library(ordinal); library(broom.mixed); library(jsonlite)
})
ds <- function(name, ...) read.csv(file.path("..", "..", "interlace", "datasets", paste0(name, ".csv")), ...)
sleep <- ds("sleepstudy", colClasses = c(Subject = "factor"))
cbpp <- ds("cbpp", colClasses = c(herd = "factor", period = "factor"))
sal <- ds("Salamanders", colClasses = c(site = "factor"))
wine <- ds("wine", stringsAsFactors = TRUE)
wine$rating <- factor(wine$rating, ordered = TRUE)

ci_rec <- function(ci) list(names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
                            estimate = if (ncol(ci) > 2) unname(ci[, 3]) else NULL)
tmb <- function(m, formula, data, family, extra = list()) {
  c(list(formula = formula, data = data, family = family, loglik = as.numeric(logLik(m)),
         wald95 = ci_rec(confint(m, method = "wald", full = TRUE, level = 0.95)),
         wald80 = ci_rec(confint(m, method = "wald", full = TRUE, level = 0.80))), extra)
}
out <- list(glmmTMB = list(), lme4 = list(), ordinal = list(), tidy = list(), condvar = list())

# -- glmmTMB confint(method = "wald") -------------------------------------------------------
out$glmmTMB$cbpp <- tmb(glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                                family = binomial),
                        "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial")
out$glmmTMB$sleep_reml <- tmb(glmmTMB(Reaction ~ Days + (Days | Subject), sleep, REML = TRUE),
                              "Reaction ~ Days + (Days | Subject)", "sleepstudy", "gaussian",
                              list(method = "REML"))
out$glmmTMB$sleep_ml <- tmb(glmmTMB(Reaction ~ Days + (Days | Subject), sleep),
                            "Reaction ~ Days + (Days | Subject)", "sleepstudy", "gaussian",
                            list(method = "ML"))
out$glmmTMB$sal_zip <- tmb(glmmTMB(count ~ mined + (1 | site), sal, family = poisson, ziformula = ~mined),
                           "count ~ mined + (1 | site)", "Salamanders", "zipoisson",
                           list(ziformula = "~ mined"))
out$glmmTMB$sal_nb2 <- tmb(glmmTMB(count ~ mined + spp + (1 | site), sal, family = nbinom2),
                           "count ~ mined + spp + (1 | site)", "Salamanders", "nbinom2")

# -- lme4 confint(method = "Wald"): fixed effects -------------------------------------------
lwald <- function(m) { ci <- confint(m, method = "Wald", level = 0.95); ci <- ci[!is.na(ci[, 1]), , drop = FALSE]; ci_rec(ci) }
g_cbpp <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
l_reml <- lmer(Reaction ~ Days + (Days | Subject), sleep)
l_ml <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
out$lme4$cbpp <- lwald(g_cbpp)
out$lme4$sleep_reml <- lwald(l_reml)
out$lme4$sleep_ml <- lwald(l_ml)

# -- ordinal confint(clmm) -------------------------------------------------------------------
c_wine <- clmm(rating ~ temp + contact + (1 | judge), data = wine)
out$ordinal$wine <- ci_rec(confint(c_wine, level = 0.95))
out$ordinal$wine$estimate <- unname(coef(c_wine))
out$ordinal$wine$loglik <- as.numeric(logLik(c_wine))

# -- broom.mixed::tidy -----------------------------------------------------------------------
tidy_rec <- function(t) {
  t <- as.data.frame(t)
  lapply(t, function(col) if (is.factor(col)) as.character(col) else col)
}
l_test <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleep)
out$tidy$sleep_lmertest <- tidy_rec(tidy(l_test, conf.int = TRUE))
out$tidy$sleep_lme4 <- tidy_rec(tidy(l_reml, conf.int = TRUE))
out$tidy$cbpp <- tidy_rec(tidy(g_cbpp, conf.int = TRUE))
out$tidy$wine <- tidy_rec(tidy(c_wine, conf.int = TRUE))
out$tidy$sal_zip_tmb <- tidy_rec(tidy(glmmTMB(count ~ mined + (1 | site), sal, family = poisson,
                                              ziformula = ~mined)))
out$tidy$cbpp_ran_vals <- tidy_rec(tidy(g_cbpp, effects = "ran_vals"))

# -- lme4 ranef(condVar = TRUE) --------------------------------------------------------------
cv <- function(m, g) {
  r <- ranef(m, condVar = TRUE)[[g]]
  pv <- attr(r, "postVar")  # k x k x levels
  list(levels = rownames(r), terms = colnames(r), modes = lapply(as.list(r), unname),
       postVar = lapply(seq_len(dim(pv)[3]), function(i) unname(pv[, , i, drop = TRUE])))
}
out$condvar$sleep_reml <- cv(l_reml, "Subject")
out$condvar$cbpp <- cv(g_cbpp, "herd")
out$condvar$versions <- list(lme4 = as.character(packageVersion("lme4")),
                             glmmTMB = as.character(packageVersion("glmmTMB")),
                             ordinal = as.character(packageVersion("ordinal")),
                             broom.mixed = as.character(packageVersion("broom.mixed")))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE), "wald_ci.json")
