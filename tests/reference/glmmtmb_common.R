# Shared set-up of the glmmTMB reference scripts (glmmtmb_families.R, glmmtmb_formulas.R):
# packages, RNG, the packaged Salamanders and Owls data, and a median timer.
suppressPackageStartupMessages({library(glmmTMB); library(lme4); library(jsonlite)})
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
dir.create("data", showWarnings = FALSE)
ds <- "../../interlace/datasets/"
sal <- read.csv(file.path(ds, "Salamanders.csv"), colClasses = c(site = "factor"))
owls <- read.csv(file.path(ds, "Owls.csv"), colClasses = c(Nest = "factor"))

# median elapsed seconds of `reps` evaluations of a quoted call, and its last value
timed <- function(expr, reps = 3) {
  ts <- numeric(reps); for (i in seq_len(reps)) ts[i] <- system.time(m <- eval.parent(expr))[["elapsed"]]
  list(m = m, t = median(ts))
}
