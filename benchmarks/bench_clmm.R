# ordinal::clmm timings for benchmarks/bench_clmm.py (which runs this script in the same run).
# usage: Rscript bench_clmm.R OUT.json REPS
# Reads the shipped CSVs as tests/reference/ordinal_clmm2.R does; per case one warm-up fit,
# then REPS fits (default control): median elapsed seconds and median CPU seconds (user +
# system of this process), and the log-likelihood.
suppressPackageStartupMessages({
  library(ordinal)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out_path <- args[1]
reps <- as.integer(args[2])
ds_dir <- file.path("..", "interlace", "datasets")

wine <- read.csv(file.path(ds_dir, "wine.csv"),
                 colClasses = c(response = "numeric", rating = "character", temp = "factor",
                                contact = "factor", bottle = "factor", judge = "factor"))
wine$rating <- factor(wine$rating, levels = as.character(1:5), ordered = TRUE)
soup <- read.csv(file.path(ds_dir, "soup.csv"), colClasses = "character")
soup$SURENESS <- factor(soup$SURENESS, levels = as.character(1:6), ordered = TRUE)
soup$PROD <- factor(soup$PROD)
soup$RESP <- factor(soup$RESP)

cases <- list(
  wine = list(f = "rating ~ temp + contact + (1 | judge)", d = wine, threshold = "flexible"),
  wine_symmetric = list(f = "rating ~ temp + contact + (1 | judge)", d = wine,
                        threshold = "symmetric"),
  soup = list(f = "SURENESS ~ PROD + (1 | RESP) + (1 | RESP:PROD)", d = soup,
              threshold = "flexible")
)
res <- list()
for (k in names(cases)) {
  cs <- cases[[k]]
  one <- function() clmm(as.formula(cs$f), data = cs$d, threshold = cs$threshold)
  fit <- one()  # warm-up
  el <- numeric(reps); cpu <- numeric(reps)
  for (i in seq_len(reps)) {
    t0 <- proc.time()
    fit <- one()
    dt <- proc.time() - t0
    el[i] <- dt[["elapsed"]]; cpu[i] <- dt[["user.self"]] + dt[["sys.self"]]
  }
  res[[k]] <- list(formula = cs$f, threshold = cs$threshold, elapsed = median(el),
                   cpu = median(cpu), reps = reps, loglik = as.numeric(logLik(fit)))
  cat(sprintf("%-16s %8.4f s elapsed %8.4f s cpu  logLik %.6f\n", k, median(el), median(cpu),
              logLik(fit)))
}
res$R_version <- R.version.string
res$ordinal_version <- as.character(packageVersion("ordinal"))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_path)
