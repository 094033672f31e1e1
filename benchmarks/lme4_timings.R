# lme4 timings for the interlace benchmarks (default lme4 settings).
#
#   python benchmarks/make_data.py          # creates benchmarks/data/*.csv
#   cd benchmarks && Rscript lme4_timings.R  # writes lme4_timings.json
#
# Times are wall-clock (elapsed) per complete glmer() call, including model
# setup, measured after one untimed warm-up call for the small cbpp fits.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- "data"
cbpp <- read.csv(file.path("..", "interlace", "datasets", "cbpp.csv"),
                 colClasses = c(herd = "factor", incidence = "numeric",
                                size = "numeric", period = "factor"))
pois <- read.csv(file.path(data_dir, "pois_100k.csv"),
                 colClasses = c(y = "numeric", x1 = "numeric", x2 = "numeric",
                                g = "factor"))
binc <- read.csv(file.path(data_dir, "binary_200k_crossed.csv"),
                 colClasses = c(y = "numeric", x = "numeric", a = "factor",
                                b = "factor"))

time_fit <- function(expr_fun, n_reps, warmup = FALSE, max_total_s = Inf) {
  if (warmup) invisible(expr_fun())
  times <- numeric(0)
  fit <- NULL
  t_start <- proc.time()[["elapsed"]]
  for (i in seq_len(n_reps)) {
    t0 <- proc.time()[["elapsed"]]
    fit <- expr_fun()
    times <- c(times, proc.time()[["elapsed"]] - t0)
    if (proc.time()[["elapsed"]] - t_start > max_total_s) break
  }
  list(fit = fit, times = times)
}

summarise <- function(name, formula_text, res, unit, extra = list()) {
  fit <- res$fit
  scale <- if (unit == "ms") 1000 else 1
  msgs <- fit@optinfo$conv$lme4$messages
  out <- c(list(
    formula = formula_text,
    n_fits = length(res$times),
    unit = unit,
    median = median(res$times) * scale,
    min = min(res$times) * scale,
    times = I(res$times * scale),
    loglik = as.numeric(logLik(fit)),
    fixef = as.list(fixef(fit)),
    theta = I(as.numeric(getME(fit, "theta"))),
    nobs = nobs(fit),
    converged_messages = if (is.null(msgs)) list() else as.list(msgs)
  ), extra)
  cat(sprintf("%-16s n=%d  median %.4g %s  (min %.4g)  logLik %.6f\n", name,
              out$n_fits, out$median, unit, out$min, out$loglik))
  out
}

results <- list()

f_cbpp <- cbind(incidence, size - incidence) ~ period + (1 | herd)
r <- time_fit(function() glmer(f_cbpp, data = cbpp, family = binomial),
              20, warmup = TRUE)
results$cbpp <- summarise("cbpp", deparse(f_cbpp), r, "ms")

r <- time_fit(function() glmer(f_cbpp, data = cbpp, family = binomial,
                               nAGQ = 25),
              20, warmup = TRUE)
results$cbpp_nagq25 <- summarise("cbpp_nagq25", deparse(f_cbpp), r, "ms",
                                 list(nAGQ = 25, loglik_note = paste(
  "lme4's logLik for nAGQ > 1 is on a different scale from nAGQ = 1",
  "(cbpp: about -50.0 vs -92.0); known lme4 issue #161. Compare fixef/theta, not logLik.")))

f_pois <- y ~ x1 + x2 + (1 | g)
r <- time_fit(function() glmer(f_pois, data = pois, family = poisson), 3)
results$pois_100k <- summarise("pois_100k", deparse(f_pois), r, "s")

f_bin <- y ~ x + (1 | a) + (1 | b)
# 1 to 3 fits: stop early if the fits are slow (keeps total run time < 10 min)
r <- time_fit(function() glmer(f_bin, data = binc, family = binomial), 3,
              max_total_s = 150)
results$binary_200k_crossed <- summarise("binary_200k", deparse(f_bin), r, "s")

cpuinfo <- readLines("/proc/cpuinfo")
cpu_model <- unique(trimws(sub(".*:", "", grep("^model name", cpuinfo,
                                               value = TRUE))))
blas <- tryCatch(sessionInfo()$BLAS, error = function(e) NA_character_)

out <- list(
  generated_by = "lme4_timings.R",
  date = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"),
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  BLAS = blas,
  nproc = as.integer(system("nproc", intern = TRUE)),
  detectCores = parallel::detectCores(),
  cpu_model = paste(cpu_model, collapse = "; "),
  settings = "lme4 defaults (glmerControl()), nAGQ = 1 unless stated; wall-clock elapsed time per glmer() call",
  results = results
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "lme4_timings.json")
cat("Wrote lme4_timings.json\n")
