# R side of bench_scale.py: lme4 (glmer, glmer.nb) and glmmTMB on the same CSV files.
#
#   Rscript bench_scale.R <cases.json> <out.json>
#
# cases.json (written by bench_scale.py) maps a case name to its csv, formula, call
# ("glmer", "glmer.nb", "glmmTMB_nbinom2" or "lmer", REML), factor columns and number of timed fits.
# Times are wall-clock (elapsed) per complete call with default settings, after one untimed
# warm-up fit for cases that take under 2 s.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
spec <- fromJSON(args[[1]], simplifyVector = FALSE)

fit_once <- function(call, f, d) {
  switch(call,
    glmer = glmer(f, data = d, family = if (all(d[[all.vars(f)[1]]] %in% c(0, 1)) ||
                                            grepl("^cbind", deparse(f)[1])) binomial else poisson),
    glmer.nb = glmer.nb(f, data = d),
    lmer = lmer(f, data = d),
    glmmTMB_nbinom2 = glmmTMB::glmmTMB(f, data = d, family = glmmTMB::nbinom2),
    stop("unknown call ", call))
}

results <- list()
for (name in names(spec)) {
  s <- spec[[name]]
  cls <- setNames(rep("factor", length(s$factors)), unlist(s$factors))
  d <- read.csv(s$csv, colClasses = cls)
  f <- as.formula(s$formula)
  t0 <- proc.time()[["elapsed"]]
  m <- suppressWarnings(fit_once(s$call, f, d))
  first <- proc.time()[["elapsed"]] - t0
  times <- numeric(0)
  if (first < 2) {
    for (i in seq_len(s[["repeat"]])) {
      t0 <- proc.time()[["elapsed"]]
      m <- suppressWarnings(fit_once(s$call, f, d))
      times <- c(times, proc.time()[["elapsed"]] - t0)
    }
  } else {
    times <- first
    for (i in seq_len(max(0, s[["repeat"]] - 1))) {
      t0 <- proc.time()[["elapsed"]]
      m <- suppressWarnings(fit_once(s$call, f, d))
      times <- c(times, proc.time()[["elapsed"]] - t0)
    }
  }
  ll <- as.numeric(logLik(m))
  results[[name]] <- list(call = s$call, median_s = median(times), min_s = min(times),
                          times = I(times), loglik = ll, nobs = nrow(d))
  cat(sprintf("%-26s %-16s median %.4f s (n=%d)  logLik %.4f\n", name, s$call, median(times),
              length(times), ll))
}

blas <- tryCatch(sessionInfo()$BLAS, error = function(e) NA_character_)
out <- list(R_version = R.version.string,
            lme4_version = as.character(packageVersion("lme4")),
            glmmTMB_version = tryCatch(as.character(packageVersion("glmmTMB")),
                                       error = function(e) NA_character_),
            Matrix_version = as.character(packageVersion("Matrix")),
            BLAS = blas, date = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"),
            results = results)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), args[[2]])
