# bootMer on cbpp, timed: the reference for benchmarks/bench_bootstrap.py (which runs this).
# usage: Rscript benchmarks/bench_bootstrap.R NSIM OUT.json
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
nsim <- if (length(args) >= 1) as.integer(args[1]) else 100L
out <- if (length(args) >= 2) args[2] else "bootmer_timing.json"
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
cbpp <- read.csv(file.path(here, "..", "interlace", "datasets", "cbpp.csv"),
                 colClasses = c(herd = "factor", period = "factor"))
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
stat <- function(x) c(getME(x, "theta"), fixef(x))  # confint(method = "boot")'s parameters
invisible(bootMer(gm, stat, nsim = 5, seed = 1))     # warm-up
tm <- system.time(b <- bootMer(gm, stat, nsim = nsim, seed = 20261205))
el <- tm[["elapsed"]]
cpu <- tm[["user.self"]] + tm[["sys.self"]]
write_json(list(nsim = nsim, elapsed_s = el, per_sim_s = el / nsim, cpu_per_sim_s = cpu / nsim,
                failures = sum(!stats::complete.cases(b$t)),
                lme4 = as.character(packageVersion("lme4")), R = R.version.string),
           out, auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat(sprintf("bootMer: %d simulations in %.2f s (%.4f s each; CPU %.4f s each)\n", nsim, el,
            el / nsim, cpu / nsim))
