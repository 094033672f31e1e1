# Reference values for covariance structures (interlace.covariance: ar1, cs) from glmmTMB:
# glmmTMB(y ~ ... + ar1(0 + time | id)), cs(0 + time | id), REML = TRUE and FALSE, poisson
# GLMMs (Laplace), exp and gau spatial Poisson GLMMs over numFactor points, on simulated
# longitudinal and spatial data and on lme4's sleepstudy (cs(1 + Days | Subject)).
# Run from this directory:  Rscript covstruct.R   -> covstruct.json and data/covstruct_long.csv
suppressPackageStartupMessages({
  library(glmmTMB)
  library(jsonlite)
})
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261205)
# 40 subjects x 6 times x 2 replicates; per-subject AR(1) effects over time (sd 1, rho 0.6)
# for y and count, compound-symmetric ones (SDs 0.5 to 1, rho 0.4) for y2 and count2
nsub <- 40; nt <- 6; nrep <- 2
R <- 0.6^abs(outer(1:nt, 1:nt, "-"))
b <- matrix(rnorm(nsub * nt), nsub) %*% chol(R)
sds <- seq(0.5, 1, length.out = nt)
Rc <- matrix(0.4, nt, nt); diag(Rc) <- 1
b2 <- matrix(rnorm(nsub * nt), nsub) %*% chol(diag(sds) %*% Rc %*% diag(sds))
long <- data.frame(id = sprintf("s%02d", rep(1:nsub, each = nt * nrep)),
                   tnum = rep(rep(0:(nt - 1), each = nrep), nsub))
long$time <- sprintf("t%d", long$tnum)
long$x <- round(rnorm(nrow(long)), 4)
cell <- cbind(rep(1:nsub, each = nt * nrep), long$tnum + 1)
long$y <- round(1 + 0.3 * long$x + 0.1 * long$tnum + b[cell] + rnorm(nrow(long), sd = 0.5), 4)
long$y2 <- round(1 + 0.3 * long$x + 0.1 * long$tnum + b2[cell] + rnorm(nrow(long), sd = 0.5), 4)
long$count <- rpois(nrow(long), exp(0.5 + 0.3 * long$x + 0.5 * b[cell]))
long$count2 <- rpois(nrow(long), exp(0.5 + 0.3 * long$x + b2[cell]))
dir.create("data", showWarnings = FALSE)
write.csv(long, file.path("data", "covstruct_long.csv"), row.names = FALSE)
long <- read.csv(file.path("data", "covstruct_long.csv"))
long$id <- factor(long$id); long$time <- factor(long$time)
# 60 sites on a 10 x 6 grid, one exponential spatial field (sd 0.8, range 3), 4 counts a site
grid <- expand.grid(x = 1:10, y = 1:6)
D <- as.matrix(dist(grid))
field <- drop(t(chol(0.64 * exp(-D / 3))) %*% rnorm(nrow(grid)))
spat <- grid[rep(seq_len(nrow(grid)), each = 4), ]
spat$z <- round(rnorm(nrow(spat)), 4)
spat$count <- rpois(nrow(spat), exp(0.5 + 0.4 * spat$z + field[rep(seq_len(nrow(grid)), each = 4)]))
spat$group <- "all"
write.csv(spat, file.path("data", "covstruct_spatial.csv"), row.names = FALSE)
spat <- read.csv(file.path("data", "covstruct_spatial.csv"))
spat$pos <- numFactor(spat$x, spat$y); spat$group <- factor(spat$group)
sleep <- read.csv(file.path("..", "..", "interlace", "datasets", "sleepstudy.csv"))
sleep$Subject <- factor(sleep$Subject)

summ <- function(m, structure) {
  vc <- VarCorr(m)$cond[[1]]
  sd <- unname(attr(vc, "stddev"))
  cor <- attr(vc, "correlation")
  rho <- if (ncol(cor) > 1) cor[2, 1] else NA
  sp <- if (structure == "ar1") c(sd[1], rho) else c(sd, rho)
  if (structure == "toep") sp <- c(sd, cor[-1, 1])  # the lag correlations
  if (structure == "mat") {  # sd, the first two points' correlation and their distance
    xy <- parseNumLevels(rownames(cor)[1:2])
    sp <- c(sd[1], rho, sqrt(sum((xy[1, ] - xy[2, ])^2)))
  }
  if (structure %in% c("exp", "gau")) {  # the range, from the first pair of points
    xy <- parseNumLevels(rownames(cor)[1:2])
    d12 <- sqrt(sum((xy[1, ] - xy[2, ])^2))
    sp <- c(sd[1], if (structure == "exp") -d12 / log(rho) else d12 / sqrt(-log(rho)))
  }
  list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond),
       sigma = if (family(m)$family == "gaussian") sigma(m) else NULL,
       structure_params = sp, converged = m$fit$convergence == 0)
}
t_fit <- function(...) { t0 <- proc.time()[["elapsed"]]; m <- glmmTMB(...); list(m, proc.time()[["elapsed"]] - t0) }
cases <- list(
  lmm_ar1_ml = list(y ~ x + tnum + ar1(0 + time | id), long, gaussian(), FALSE, "ar1"),
  lmm_ar1_reml = list(y ~ x + tnum + ar1(0 + time | id), long, gaussian(), TRUE, "ar1"),
  lmm_cs_ml = list(y2 ~ x + tnum + cs(0 + time | id), long, gaussian(), FALSE, "cs"),
  lmm_cs_reml = list(y2 ~ x + tnum + cs(0 + time | id), long, gaussian(), TRUE, "cs"),
  pois_ar1 = list(count ~ x + ar1(0 + time | id), long, poisson(), FALSE, "ar1"),
  pois_cs = list(count2 ~ x + cs(0 + time | id), long, poisson(), FALSE, "cs"),
  # (an LMM with toep(0 + time | id) on these data stops glmmTMB 1.1.5 with "infinite or
  # missing values" in its Hessian, so there is no LMM toep reference)
  pois_toep = list(count ~ x + toep(0 + time | id), long, poisson(), FALSE, "toep"),
  pois_exp = list(count ~ z + exp(pos + 0 | group), spat, poisson(), FALSE, "exp"),
  pois_mat = list(count ~ z + mat(pos + 0 | group), spat, poisson(), FALSE, "mat"),
  pois_gau = list(count ~ z + gau(pos + 0 | group), spat, poisson(), FALSE, "gau"),
  sleep_cs_ml = list(Reaction ~ Days + cs(1 + Days | Subject), sleep, gaussian(), FALSE, "cs"),
  sleep_cs_reml = list(Reaction ~ Days + cs(1 + Days | Subject), sleep, gaussian(), TRUE, "cs")
)
out <- list(versions = list(glmmTMB = as.character(packageVersion("glmmTMB")), R = R.version.string))
for (nm in names(cases)) {
  cs_ <- cases[[nm]]
  r <- tryCatch(t_fit(cs_[[1]], data = cs_[[2]], family = cs_[[3]], REML = cs_[[4]]),
                error = function(e) NULL)
  if (is.null(r)) next  # glmmTMB failed on it: no reference (the test has none either)
  out[[nm]] <- c(summ(r[[1]], cs_[[5]]), list(formula = deparse(cs_[[1]]), REML = cs_[[4]],
                                              seconds = r[[2]]))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "covstruct.json")
