# References for result.icc() and result.r2() (tests/test_model_checks.py): the performance
# package's icc() and r2_nakagawa() with insight::get_variance()'s variance components.
# Run from this directory:  Rscript model_checks.R  -> model_checks.json
suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(performance);
  library(insight); library(jsonlite)})
ds <- "../../interlace/datasets/"
sleep <- read.csv(file.path(ds, "sleepstudy.csv"), colClasses = c(Subject = "factor"))
cbpp <- read.csv(file.path(ds, "cbpp.csv"), colClasses = c(herd = "factor", period = "factor"))
sal <- read.csv(file.path(ds, "Salamanders.csv"), colClasses = c(site = "factor"))
rec <- function(m, formula, data, family) {
  ic <- suppressWarnings(icc(m)); r2 <- suppressWarnings(r2_nakagawa(m))
  v <- suppressWarnings(get_variance(m))
  list(formula = formula, data = data, family = family,
       adjusted = unname(ic$ICC_adjusted), unadjusted = unname(ic$ICC_unadjusted),
       marginal = unname(r2$R2_marginal), conditional = unname(r2$R2_conditional),
       var_fixed = v$var.fixed, var_random = v$var.random, var_residual = v$var.residual,
       var_distribution = v$var.distribution, var_dispersion = v$var.dispersion,
       loglik = as.numeric(logLik(m)))
}
out <- list(versions = list(performance = as.character(packageVersion("performance")),
                            insight = as.character(packageVersion("insight"))))
out$sleep <- rec(lmer(Reaction ~ Days + (Days | Subject), sleep),
                 "Reaction ~ Days + (Days | Subject)", "sleepstudy", "gaussian")
out$cbpp <- rec(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial),
                "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial")
out$sal_pois <- rec(glmer(count ~ mined + spp + (1 | site), sal, family = poisson),
                    "count ~ mined + spp + (1 | site)", "Salamanders", "poisson")
out$sal_nb2 <- rec(glmmTMB(count ~ mined + spp + (1 | site), sal, family = nbinom2),
                   "count ~ mined + spp + (1 | site)", "Salamanders", "nbinom2")
write_json(out, "model_checks.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
