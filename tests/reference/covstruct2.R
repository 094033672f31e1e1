# Reference values for covariance structures, part 2 (interlace.covariance: ou, homcs, rr).
# - ou: glmmTMB(y ~ x + ou(times + 0 | id)) (ML and REML) and a Poisson GLMM (Laplace) on
#   simulated longitudinal data at 8 irregular times (each subject seen twice at 5 of them), with
#   times = numFactor(t); the rate is read from the fitted correlation of the first two times.
# - homcs (homogeneous compound symmetry): glmmTMB 1.1.5 has no such structure
#   (glmmTMB:::.valid_covstruct lists diag us cs ar1 ou exp gau mat toep rr), so the reference
#   is lme4's equivalent lmer(y ~ x + tnum + (1 | id) + (1 | id:time)) on the balanced
#   covstruct_long.csv (ML and REML): s^2 = var(id) + var(id:time), rho = var(id) / s^2.
# - rr: glmmTMB(y ~ 0 + trait + rr(0 + trait | id, d = 2)) on simulated multivariate data
#   (4 traits, 120 individuals, long format; also REML, d = 1, and a Poisson GLMM of count by
#   Laplace); the implied covariance Lambda Lambda' (relative
#   to nothing: on the data scale) is reported, the loadings being identified only up to rotation.
# Run from this directory:  Rscript covstruct2.R  -> covstruct2.json, data/covstruct_ou.csv,
# data/covstruct_rr.csv
suppressPackageStartupMessages({
  library(glmmTMB)
  library(lme4)
  library(jsonlite)
})
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261206)
dir.create("data", showWarnings = FALSE)
# -- ou: 60 subjects, 8 irregular times, 5 a subject, 2 replicates a visit (interlace, as lme4,
# refuses more random effects, 60 x 8, than observations); OU effects sd 1, rate 0.5 ----------
tt <- c(0, 0.4, 1.1, 1.5, 2.6, 3.0, 4.3, 6.0)
nsub <- 60
R <- exp(-0.5 * abs(outer(tt, tt, "-")))
b <- matrix(rnorm(nsub * length(tt)), nsub) %*% chol(R)
idx <- t(sapply(seq_len(nsub), function(i) sort(sample(length(tt), 5))))
ou <- data.frame(id = sprintf("s%02d", rep(seq_len(nsub), each = 10)),
                 it = rep(as.vector(t(idx)), each = 2))
ou$t <- tt[ou$it]
ou$x <- round(rnorm(nrow(ou)), 4)
cell <- cbind(rep(seq_len(nsub), each = 10), ou$it)
ou$y <- round(1 + 0.3 * ou$x + 0.2 * ou$t + b[cell] + rnorm(nrow(ou), sd = 0.5), 4)
ou$count <- rpois(nrow(ou), exp(0.5 + 0.3 * ou$x + 0.7 * b[cell]))
ou$it <- NULL
write.csv(ou, file.path("data", "covstruct_ou.csv"), row.names = FALSE)
ou <- read.csv(file.path("data", "covstruct_ou.csv"))
ou$id <- factor(ou$id); ou$times <- numFactor(ou$t)
ou$group <- ou$id
# -- rr: 120 individuals x 4 traits, effects with a rank-2 covariance ----------------------------
nid <- 120; ntr <- 4
L <- cbind(c(1, 0.8, 0.5, -0.3), c(0, 0.6, -0.7, 0.4))
u <- matrix(rnorm(nid * 2), nid) %*% t(L)
rr <- data.frame(id = sprintf("i%03d", rep(seq_len(nid), each = ntr)),
                 trait = rep(sprintf("tr%d", seq_len(ntr)), nid))
mu <- c(1, 0, -0.5, 2)
rr$y <- round(mu[rep(seq_len(ntr), nid)] + as.vector(t(u)) + rnorm(nrow(rr), sd = 0.4), 4)
rr$count <- rpois(nrow(rr), exp(0.3 + 0.7 * as.vector(t(u))))
write.csv(rr, file.path("data", "covstruct_rr.csv"), row.names = FALSE)
rr <- read.csv(file.path("data", "covstruct_rr.csv"))
rr$id <- factor(rr$id); rr$trait <- factor(rr$trait)
long <- read.csv(file.path("data", "covstruct_long.csv"))  # from covstruct.R
long$id <- factor(long$id); long$time <- factor(long$time)

timed <- function(expr) { t0 <- proc.time()[["elapsed"]]; m <- expr; list(m, proc.time()[["elapsed"]] - t0) }
ou_case <- function(formula, family, REML) {
  r <- timed(glmmTMB(formula, data = ou, family = family, REML = REML))
  m <- r[[1]]
  vc <- VarCorr(m)$cond[[1]]
  cor <- attr(vc, "correlation")
  t12 <- parseNumLevels(rownames(cor)[1:2])
  rate <- -log(cor[2, 1]) / abs(t12[2, 1] - t12[1, 1])
  list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond),
       sigma = if (family$family == "gaussian") sigma(m) else NULL,
       structure_params = c(unname(attr(vc, "stddev"))[1], rate),
       converged = m$fit$convergence == 0, formula = deparse(formula), REML = REML,
       seconds = r[[2]])
}
homcs_case <- function(REML) {
  f <- y ~ x + tnum + (1 | id) + (1 | id:time)
  r <- timed(lmer(f, data = long, REML = REML))
  m <- r[[1]]
  v <- as.data.frame(VarCorr(m))
  vid <- v$vcov[v$grp == "id"]; vcell <- v$vcov[v$grp == "id:time"]
  s2 <- vid + vcell
  list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)), sigma = sigma(m),
       structure_params = c(sqrt(s2), vid / s2), formula = deparse(f), REML = REML,
       converged = is.null(m@optinfo$conv$lme4$messages), seconds = r[[2]])
}
rr_case <- function(REML, f = y ~ 0 + trait + rr(0 + trait | id, d = 2), family = gaussian()) {
  r <- timed(glmmTMB(f, data = rr, REML = REML, family = family))
  m <- r[[1]]
  S <- unclass(VarCorr(m)$cond[[1]])
  attr(S, "stddev") <- NULL; attr(S, "correlation") <- NULL; attr(S, "blockCode") <- NULL
  list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond), sigma = if (family$family == "gaussian") sigma(m) else NULL,
       covariance = unname(S[, ]), formula = deparse(f), REML = REML,
       converged = m$fit$convergence == 0, seconds = r[[2]])
}
out <- list(versions = list(glmmTMB = as.character(packageVersion("glmmTMB")),
                            lme4 = as.character(packageVersion("lme4")), R = R.version.string))
out$lmm_ou_ml <- ou_case(y ~ x + t + ou(times + 0 | group), gaussian(), FALSE)
out$lmm_ou_reml <- ou_case(y ~ x + t + ou(times + 0 | group), gaussian(), TRUE)
out$pois_ou <- ou_case(count ~ x + ou(times + 0 | group), poisson(), FALSE)
out$lmm_homcs_ml <- homcs_case(FALSE)
out$lmm_homcs_reml <- homcs_case(TRUE)
out$lmm_rr_ml <- tryCatch(rr_case(FALSE), error = function(e) NULL)
out$lmm_rr_reml <- tryCatch(rr_case(TRUE), error = function(e) NULL)
out$lmm_rr1_ml <- tryCatch(rr_case(FALSE, y ~ 0 + trait + rr(0 + trait | id, d = 1)),
                           error = function(e) NULL)
out$pois_rr <- tryCatch(rr_case(FALSE, count ~ 0 + trait + rr(0 + trait | id, d = 2), poisson()),
                        error = function(e) NULL)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "covstruct2.json")
