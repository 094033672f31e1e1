# glmmTMB's predict(se.fit = TRUE) timings for bench_predict.py (run from benchmarks/):
#   Rscript bench_predict.R  -> data/predict_r.json
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
ds <- "../interlace/datasets/"
cbpp <- read.csv(file.path(ds, "cbpp.csv"), colClasses = c(herd = "factor", period = "factor"))
sleep <- read.csv(file.path(ds, "sleepstudy.csv"), colClasses = c(Subject = "factor"))
pois <- read.csv("data/predict_pois.csv", colClasses = c(g = "factor"))
new_pois <- read.csv("data/predict_pois_new.csv", colClasses = c(g = "factor"))
# median elapsed seconds of glmmTMB's predict with standard errors, re.form = NA and NULL
timings <- function(m, nd, reps) {
  one <- function(re) {
    ts <- numeric(reps)
    for (i in seq_len(reps)) {
      ts[i] <- system.time(predict(m, newdata = nd, se.fit = TRUE, re.form = re,
                                   allow.new.levels = TRUE))[["elapsed"]]
    }
    median(ts)
  }
  list(fixed = one(NA), full = one(NULL))
}
m_cbpp <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
m_sleep <- glmmTMB(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
m_pois <- glmmTMB(y ~ x + (1 | g), pois, family = poisson)
out <- list(
  cbpp = timings(m_cbpp, data.frame(period = cbpp$period[1:7], herd = cbpp$herd[1:7]), 10),
  sleepstudy = timings(m_sleep, data.frame(Days = sleep$Days[1:10], Subject = sleep$Subject[1:10]), 10),
  pois_20k = timings(m_pois, new_pois, 3))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "data/predict_r.json")
