# lme4's profile intervals on cbpp and sleepstudy, timed: the R half of bench_profile.py.
# usage: Rscript bench_profile.R <repeats> <out.json>   (run by bench_profile.py)
# Each case: the fit once (untimed), then confint(m, method = "profile") `repeats` times
# (profile() and the spline intervals; lme4 profiles every parameter), median elapsed seconds.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reps <- as.integer(args[1])
ds <- function(name, ...) read.csv(file.path("..", "interlace", "datasets", paste0(name, ".csv")), ...)
cbpp <- ds("cbpp", colClasses = c(herd = "factor", period = "factor"))
sleep <- ds("sleepstudy", colClasses = c(Subject = "factor"))
fits <- list(
  cbpp = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial),
  sleepstudy = lmer(Reaction ~ Days + (Days | Subject), sleep)
)
out <- lapply(fits, function(m) {
  ts <- numeric(reps)
  for (i in seq_len(reps))
    ts[i] <- system.time(ci <- confint(m, method = "profile", oldNames = FALSE, quiet = TRUE))[["elapsed"]]
  list(seconds = median(ts), all = ts, lower = unname(ci[, 1]), upper = unname(ci[, 2]))
})
out$R_version <- R.version.string
out$lme4_version <- as.character(packageVersion("lme4"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), args[2])
