# glmmTMB's side of bench_families2.py: every case of families2_cases.json fitted with
# glmmTMB, one untimed warm-up fit, then the median elapsed and CPU (user + system) time of
# `reps` fits.
#   cd benchmarks && Rscript bench_families2.R [reps]   -> families2_glmmtmb.json
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 5L
cases <- fromJSON("families2_cases.json", simplifyVector = FALSE)$cases
factors <- list(Salamanders = "site", Owls = "Nest", cbpp = c("herd", "period"),
                sleepstudy = "Subject")
load_data <- function(name) {
  if (grepl("\\.csv$", name)) {
    d <- read.csv(file.path("..", "tests", "reference", name))
  } else {
    d <- read.csv(file.path("..", "interlace", "datasets", paste0(name, ".csv")))
  }
  for (v in c(factors[[name]], intersect(c("g", "site"), names(d)))) d[[v]] <- factor(d[[v]])
  d
}
out <- list()
for (cs in cases) {
  d <- load_data(cs$data)
  fam <- eval(parse(text = cs$r_family))
  zi <- if (is.null(cs$ziformula)) ~0 else as.formula(cs$ziformula)
  extra <- if (is.null(cs$r_args)) "" else paste(",", cs$r_args)
  call <- parse(text = paste0("glmmTMB(as.formula(cs$formula), data = d, family = fam, ",
                              "ziformula = zi", extra, ")"))[[1]]
  go <- function() eval(call)
  m <- go()
  ts <- vapply(seq_len(reps), function(i) {
    st <- system.time(go())
    c(st[["elapsed"]], st[["user.self"]] + st[["sys.self"]])
  }, c(0, 0))
  out[[cs$key]] <- list(seconds = median(ts[1, ]), cpu_seconds = median(ts[2, ]),
                        loglik = as.numeric(logLik(m)))
  message(cs$key, ": ", median(ts[1, ]), " s (cpu ", median(ts[2, ]), " s), logLik ",
          as.numeric(logLik(m)))
}
writeLines(toJSON(list(glmmTMB = as.character(packageVersion("glmmTMB")),
                       R = R.version.string, reps = reps, results = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "families2_glmmtmb.json")
