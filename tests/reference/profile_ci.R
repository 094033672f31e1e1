# Reference values for profile() / conf_int(method="profile") from lme4's profile.merMod and
# confint.thpr (lme4 1.1-31). Run from this directory:  Rscript profile_ci.R  -> profile_ci.json
# (and data/profile_boundary.csv).
#
# lme4 profiles an lmer fit on the ML deviance even when it was fitted by REML (devfun2 calls
# refitML first): the REML and ML fits of sleepstudy have the same profile intervals, both
# recorded here. Zeta samples: rows of as.data.frame(profile(m)) (.par, .focal, .zeta).
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
ds <- function(name, ...) read.csv(file.path("..", "..", "interlace", "datasets", paste0(name, ".csv")), ...)
cbpp <- ds("cbpp", colClasses = c(herd = "factor", period = "factor"))
sleep <- ds("sleepstudy", colClasses = c(Subject = "factor"))
gt <- ds("grouseticks", colClasses = c(BROOD = "factor", INDEX = "factor", LOCATION = "factor",
                                       YEAR = "factor"))

# Random intercepts with a small between-group spread: for y_small the SD's profile does not
# reach -qnorm(0.975) before 0 (estimate > 0, lme4 reports 0 as the lower bound); for y_zero
# the estimate itself is 0 (a singular fit, profiled upwards only).
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261210)
dir.create("data", showWarnings = FALSE)
g <- rep(sprintf("g%02d", 1:12), each = 6)
x <- round(rnorm(72), 6)
b <- rnorm(12)[as.integer(factor(g))]
e <- rnorm(72)
write.csv(data.frame(y_small = round(1 + 0.5 * x + 0.4 * b + e, 6),
                     y_zero = round(1 + 0.5 * x + 0.15 * b + e, 6), x = x, g = g),
          "data/profile_boundary.csv", row.names = FALSE)
bnd <- read.csv("data/profile_boundary.csv", colClasses = c(g = "factor"))

ci_list <- function(ci) lapply(seq_len(nrow(ci)), function(i)
  list(parameter = rownames(ci)[i], lower = unname(ci[i, 1]), upper = unname(ci[i, 2])))

# a few rows of the zeta table per parameter: the first, middle and last of each profile
zeta_rows <- function(pr) {
  d <- as.data.frame(pr)
  out <- list()
  for (p in levels(d$.par)) {
    s <- d[d$.par == p, ]
    s <- s[order(s$.focal), ]
    idx <- unique(round(seq(2, nrow(s) - 1, length.out = 5)))
    for (i in idx) out[[length(out) + 1]] <- list(parameter = p, value = s$.focal[i], zeta = s$.zeta[i])
  }
  out
}

rec <- function(m, data_name) {
  t <- system.time(pr <- profile(m, signames = FALSE))[["elapsed"]]
  t_ci <- system.time(ci95 <- confint(m, method = "profile", oldNames = FALSE, quiet = TRUE))[["elapsed"]]
  list(formula = deparse(formula(m)), data = data_name,
       class = class(m)[1], REML = isREML(m), deviance_ml = unname(deviance(refitML(m))),
       theta = unname(getME(m, "theta")), fixef = as.list(fixef(m)),
       ci95 = ci_list(ci95), ci99 = ci_list(confint(pr, level = 0.99)),
       ci80 = ci_list(confint(pr, level = 0.80)),
       zeta = zeta_rows(pr), profile_seconds = t, confint_profile_seconds = t_ci)
}

fx <- list(
  cbpp = rec(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial), "cbpp"),
  sleep_reml = rec(lmer(Reaction ~ Days + (Days | Subject), sleep), "sleepstudy"),
  sleep_ml = rec(lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE), "sleepstudy"),
  sleep_uncorr = rec(lmer(Reaction ~ Days + (Days || Subject), sleep), "sleepstudy"),
  boundary_small = rec(lmer(y_small ~ x + (1 | g), bnd), "data/profile_boundary.csv"),
  boundary_zero = rec(lmer(y_zero ~ x + (1 | g), bnd), "data/profile_boundary.csv"),
  # three random intercepts (lme4 orders them by their number of levels: INDEX, BROOD,
  # LOCATION; interlace by the formula), the LOCATION SD's lower limit at 0
  grouseticks = rec(glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                          gt, poisson), "grouseticks")
)
out <- list(R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
            generated_by = "profile_ci.R", fixtures = fx)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           "profile_ci.json")
cat("wrote profile_ci.json\n")
