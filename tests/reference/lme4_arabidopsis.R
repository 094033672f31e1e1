# Reference values from lme4 for R-style column names (issue 16): lme4's Arabidopsis data, whose
# response is `total.fruits`, with the Poisson GLMM of Bolker et al.'s GLMM worked example,
#   total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen).
#
# Run from this directory:
#   cd tests/reference && Rscript lme4_arabidopsis.R        (writes lme4_arabidopsis.json)
#
# Data: interlace/datasets/Arabidopsis.csv (written by interlace/datasets/export_from_r.R from
# lme4's `Arabidopsis`), read back here with gen, rack and nutrient as factors (lme4 stores them
# as integers; its documentation and the worked example treat them as factors), as
# interlace.load_dataset("Arabidopsis") reads them.
#
# Fits: lme4's defaults ("default": glmer, Laplace, bobyqa + Nelder-Mead); tight settings
# ("tight": glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10,
# maxfun = 1e5))); glmmTMB (automatic differentiation, its own optimum) as a cross-check; and
# the backtick-quoted spelling `total.fruits` in lme4, which must give the same fit. The default
# fit stops short on this model (large counts: the deviance is ~18,000), so estimates are
# compared with the tight fit.

suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})

ds_dir <- file.path("..", "..", "interlace", "datasets")
ara <- read.csv(file.path(ds_dir, "Arabidopsis.csv"),
                colClasses = c(reg = "factor", popu = "factor", gen = "factor",
                               rack = "factor", nutrient = "factor", amd = "factor",
                               status = "factor", total.fruits = "integer"))

f <- total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)
f_bt <- `total.fruits` ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)

named_list <- function(v) as.list(setNames(as.numeric(v), names(v)))
record <- function(fit) {
  V <- as.matrix(vcov(fit))
  list(fixef = named_list(fixef(fit)),
       se = named_list(setNames(sqrt(diag(V)), names(fixef(fit)))),
       theta = I(as.numeric(getME(fit, "theta"))),
       theta_names = I(names(getME(fit, "theta"))),
       loglik = as.numeric(logLik(fit)),
       messages = I(as.character(unlist(fit@optinfo$conv$lme4$messages))))
}

default <- glmer(f, data = ara, family = poisson)
tight <- glmer(f, data = ara, family = poisson,
               control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                                      optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
backtick <- glmer(f_bt, data = ara, family = poisson)
tmb <- glmmTMB(f, data = ara, family = poisson)

cat(sprintf("default logLik %.8f, tight %.8f, backtick %.8f, glmmTMB %.8f\n", logLik(default),
            logLik(tight), logLik(backtick), logLik(tmb)))
print(cbind(default = fixef(default), tight = fixef(tight), glmmTMB = fixef(tmb)$cond))

out <- list(
  generated_by = "tests/reference/lme4_arabidopsis.R",
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  glmmTMB_version = as.character(packageVersion("glmmTMB")),
  formula = "total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)",
  family = "poisson",
  fixef_names = list(
    "(Intercept)" = "(Intercept)", nutrient8 = "nutrient[T.8]", amdunclipped = "amd[T.unclipped]",
    rack2 = "rack[T.2]", statusPetri.Plate = "status[T.Petri.Plate]",
    statusTransplant = "status[T.Transplant]",
    "nutrient8:amdunclipped" = "nutrient[T.8]:amd[T.unclipped]"),
  default = record(default),
  tight = c(record(tight), control = paste(
    "glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-12,",
    "optCtrl = list(rhoend = 1e-10, maxfun = 1e5))")),
  backtick = list(loglik = as.numeric(logLik(backtick)), fixef = named_list(fixef(backtick))),
  glmmTMB = list(fixef = named_list(fixef(tmb)$cond), loglik = as.numeric(logLik(tmb)),
                 sd = I(as.numeric(sqrt(unlist(lapply(VarCorr(tmb)$cond, c))))),
                 sd_names = I(names(VarCorr(tmb)$cond)))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lme4_arabidopsis.json")
cat("wrote lme4_arabidopsis.json\n")
