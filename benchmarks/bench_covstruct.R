# glmmTMB's timings for bench_covstruct.py (run from benchmarks/, after the Python script has
# written the data):  Rscript bench_covstruct.R  -> data/covstruct_r.json
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
rd <- function(f) { d <- read.csv(file.path("data", f)); d$id <- factor(d$id); d$time <- factor(d$time); d }
ar <- rd("covstruct_ar1.csv"); cs_ <- rd("covstruct_cs.csv")
spat <- read.csv("../tests/reference/data/covstruct_spatial.csv")
spat$pos <- numFactor(spat$x, spat$y); spat$group <- factor(spat$group)
ou <- read.csv("../tests/reference/data/covstruct_ou.csv")
ou$id <- factor(ou$id); ou$times <- numFactor(ou$t)
rr <- read.csv("../tests/reference/data/covstruct_rr.csv")
rr$id <- factor(rr$id); rr$trait <- factor(rr$trait)
cases <- list(
  lmm_ar1 = list(y ~ x + ar1(0 + time | id), ar, gaussian(), TRUE),
  pois_ar1 = list(count ~ x + ar1(0 + time | id), ar, poisson(), FALSE),
  lmm_cs = list(y ~ x + cs(0 + time | id), cs_, gaussian(), TRUE),
  pois_cs = list(count ~ x + cs(0 + time | id), cs_, poisson(), FALSE),
  pois_exp = list(count ~ z + exp(pos + 0 | group), spat, poisson(), FALSE),
  lmm_ou = list(y ~ x + t + ou(times + 0 | id), ou, gaussian(), TRUE),
  pois_ou = list(count ~ x + ou(times + 0 | id), ou, poisson(), FALSE),
  lmm_rr = list(y ~ 0 + trait + rr(0 + trait | id, d = 2), rr, gaussian(), TRUE),
  pois_rr = list(count ~ 0 + trait + rr(0 + trait | id, d = 2), rr, poisson(), FALSE))
out <- list()
for (nm in names(cases)) {
  a <- cases[[nm]]
  ts <- numeric(3)
  for (i in 1:3) ts[i] <- system.time(m <- glmmTMB(a[[1]], data = a[[2]], family = a[[3]],
                                                   REML = a[[4]]))[["elapsed"]]
  out[[nm]] <- list(seconds = median(ts), loglik = as.numeric(logLik(m)))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "data/covstruct_r.json")
