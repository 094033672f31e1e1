# lmer on the InstEval-shaped data (benchmarks/data/lmm_insteval.csv from make_data.py).
# Run from benchmarks/:  Rscript lme4_lmm_timings.R  -> lme4_lmm_timings.json
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- read.csv("data/lmm_insteval.csv", colClasses = c(s = "factor", d = "factor", dept = "factor"))
f <- y ~ x + (1 | s) + (1 | d) + (1 | dept)
times <- sapply(1:3, function(i) system.time(lmer(f, d))[["elapsed"]])
m <- lmer(f, d)
out <- list(generated_by = "lme4_lmm_timings.R", lme4_version = as.character(packageVersion("lme4")),
            insteval_shape = list(formula = deparse(f), nobs = nrow(d), times = times,
                                  median_seconds = median(times), reml_criterion = unname(REMLcrit(m)),
                                  fixef = as.list(fixef(m)), theta = unname(getME(m, "theta"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lme4_lmm_timings.json")
