# glmmTMB references for the families of issue 16 (tests/test_families_parity2.py):
# tweedie, t, genpois, compois, betabinomial, zero-truncated counts, zero parts through
# ziformula (zinbinom1, zigenpois, hurdle_nbinom1, the Gamma hurdle), random effects in
# ziformula, and the lognormal (glmmTMB 1.1.5 has no lognormal family: its newer
# parametrisation, mean and SD on the data scale, is fitted by the TMB template
# lognormal_tmb.cpp next to this script, with TMB's Laplace approximation as glmmTMB's).
# Run from this directory:  Rscript glmmtmb_families2.R  -> glmmtmb_families2.json
# (+ data/fam2_*.csv). Family parameters are recorded on glmmTMB's internal scale with their
# standard errors: disp = betad (log of phi, sigma, theta or shape), psi (tweedie: logit of
# power - 1; t: log df), zi = betazi (logit of the zero probability).
source("glmmtmb_common.R")
suppressPackageStartupMessages(library(TMB))
cbpp <- read.csv(file.path(ds, "cbpp.csv"), colClasses = c(herd = "factor", period = "factor"))
sleep <- read.csv(file.path(ds, "sleepstudy.csv"), colClasses = c(Subject = "factor"))

# every estimate of a glmmTMB fit, on its internal scale, with standard errors
rec <- function(m, formula, data, family, t, link = NULL, ziformula = NULL, extra = list()) {
  V <- vcov(m, full = TRUE); se <- sqrt(diag(V))
  kinds <- names(m$fit$par)
  pick <- function(k) { i <- which(kinds == k); list(est = unname(m$fit$par[i]), se = unname(se[i])) }
  fe <- fixef(m)
  vc <- VarCorr(m)
  out <- list(formula = formula, data = data, family = family, link = link,
    ziformula = ziformula, fixef = as.list(fe$cond), se = as.list(pick("beta")$se),
    variance = unname(vc$cond[[1]][1, 1]), loglik = as.numeric(logLik(m)), aic = AIC(m),
    nobs = nobs(m), seconds = t, converged = m$fit$convergence == 0,
    pdHess = m$sdr$pdHess)
  for (k in c("betad", "psi", "betazi")) {
    p <- pick(k)
    if (length(p$est)) out[[k]] <- p
  }
  if (length(vc$zi)) out$variance_zi <- unname(vc$zi[[1]][1, 1])
  c(out, extra)
}
fx <- list()
fit <- function(key, call, formula, data, family, ...) {
  r <- timed(call)
  fx[[key]] <<- rec(r$m, formula, data, family, r$t, ...)
  message(key, ": logLik ", fx[[key]]$loglik, ", seconds ", r$t)
}
fs <- "count ~ mined + spp + (1 | site)"; f <- count ~ mined + spp + (1 | site)
write.csv(sal[sal$count > 0, ], "data/fam2_sal_pos.csv", row.names = FALSE)
salpos <- read.csv("data/fam2_sal_pos.csv", colClasses = c(site = "factor"))

# -- real data -----------------------------------------------------------------------------
fit("sal_tweedie", quote(glmmTMB(f, sal, family = tweedie)), fs, "Salamanders", "tweedie")
fit("sal_genpois", quote(glmmTMB(f, sal, family = genpois)), fs, "Salamanders", "genpois")
fit("owls_genpois", quote(glmmTMB(SiblingNegotiation ~ FoodTreatment * SexParent +
                                    offset(log(BroodSize)) + (1 | Nest), owls, family = genpois)),
    "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
    "Owls", "genpois")
# (on Salamanders the compois likelihood rises towards nu = 0, the geometric: no optimum)
fit("cbpp_compois", quote(glmmTMB(incidence ~ period + offset(log(size)) + (1 | herd), cbpp,
                                  family = compois)),
    "incidence ~ period + offset(log(size)) + (1 | herd)", "cbpp", "compois")
fit("cbpp_betabinomial", quote(glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd),
                                       cbpp, family = betabinomial)),
    "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "betabinomial")
# from glmmTMB's default start (psi = 0) the t fit on sleepstudy stops at a local optimum with
# df -> infinity (psi = 14.9, logLik -897.04); started at df = 5 (interlace's start) it reaches
# the higher one (-891.29) that interlace finds
fit("sleep_t", quote(glmmTMB(Reaction ~ Days + (1 | Subject), sleep, family = t_family,
                             start = list(psi = log(5)))),
    "Reaction ~ Days + (1 | Subject)", "sleepstudy", "t")
fit("salpos_truncated_poisson", quote(glmmTMB(f, salpos, family = truncated_poisson)), fs,
    "data/fam2_sal_pos.csv", "truncated_poisson")
fit("salpos_truncated_nbinom1", quote(glmmTMB(f, salpos, family = truncated_nbinom1)), fs,
    "data/fam2_sal_pos.csv", "truncated_nbinom1")
fit("salpos_truncated_nbinom2", quote(glmmTMB(f, salpos, family = truncated_nbinom2)), fs,
    "data/fam2_sal_pos.csv", "truncated_nbinom2")
fit("sal_zinb1", quote(glmmTMB(f, sal, family = nbinom1, ziformula = ~1)), fs, "Salamanders",
    "nbinom1", ziformula = "~1")
fit("sal_zigenpois", quote(glmmTMB(f, sal, family = genpois, ziformula = ~1)), fs,
    "Salamanders", "genpois", ziformula = "~1")
fit("sal_hurdle_nb1", quote(glmmTMB(f, sal, family = truncated_nbinom1, ziformula = ~1)), fs,
    "Salamanders", "truncated_nbinom1", ziformula = "~1")
fit("sal_zigamma", quote(glmmTMB(f, sal, family = ziGamma(link = "log"), ziformula = ~1)), fs,
    "Salamanders", "gamma", link = "log", ziformula = "~1")
fit("sal_zip_re", quote(glmmTMB(count ~ mined + (1 | site), sal, family = poisson,
                                ziformula = ~ mined + (1 | site))),
    "count ~ mined + (1 | site)", "Salamanders", "poisson", ziformula = "~ mined + (1 | site)")

# -- simulated -----------------------------------------------------------------------------
set.seed(16)
n <- 300; g <- rep(sprintf("g%02d", 1:25), each = 12)
x <- round(runif(n), 6); b <- rnorm(25, sd = 0.4)[as.integer(factor(g))]
save_sim <- function(y, name, ...) {
  d <- data.frame(y = y, x = x, g = g, ...)
  write.csv(d, file.path("data", name), row.names = FALSE)
  read.csv(file.path("data", name), colClasses = c(g = "factor"))
}
mu <- exp(0.3 + 0.6 * x + b)
p <- 1.5; phi <- 1.2
lam <- mu^(2 - p) / (phi * (2 - p)); N <- rpois(n, lam)
y <- round(ifelse(N > 0, rgamma(n, shape = N * (2 - p) / (p - 1), scale = phi * (p - 1) * mu^(p - 1)), 0), 6)
d <- save_sim(y, "fam2_tweedie.csv")
fit("sim_tweedie", quote(glmmTMB(y ~ x + (1 | g), d, family = tweedie)), "y ~ x + (1 | g)",
    "data/fam2_tweedie.csv", "tweedie")

d <- save_sim(round(1 + 0.5 * x + b + 0.8 * rt(n, df = 4), 6), "fam2_t.csv")
fit("sim_t", quote(glmmTMB(y ~ x + (1 | g), d, family = t_family)), "y ~ x + (1 | g)",
    "data/fam2_t.csv", "t")
fit("sim_t_df5", quote(glmmTMB(y ~ x + (1 | g), d, family = t_family, start = list(psi = log(5)),
                               map = list(psi = factor(NA)))),
    "y ~ x + (1 | g)", "data/fam2_t.csv", "t", extra = list(df = 5))

dgenpois <- function(y, mu, phi) { s <- sqrt(phi); th <- mu / s; la <- 1 - 1 / s
  exp(log(th) + (y - 1) * log(th + la * y) - th - la * y - lgamma(y + 1)) }
rinv <- function(pmf, mu, ...) sapply(mu, function(m) { pr <- pmf(0:400, m, ...)
  sum(cumsum(pr) / sum(pr) < runif(1)) })
mu <- exp(1 + 0.5 * x + b)
d <- save_sim(rinv(dgenpois, mu, phi = 2), "fam2_genpois.csv")
fit("sim_genpois", quote(glmmTMB(y ~ x + (1 | g), d, family = genpois)), "y ~ x + (1 | g)",
    "data/fam2_genpois.csv", "genpois")

dcmp <- function(ys, m, nu) {  # mean-parametrised CMP by brute force
  j <- 0:2000; lf <- lgamma(j + 1)
  a <- uniroot(function(a) { t <- a * j - nu * lf; w <- exp(t - max(t)); sum(w * j) / sum(w) - m },
               c(-50, 50), tol = 1e-12)$root
  t <- a * j - nu * lf; exp(t[ys + 1] - max(t) - log(sum(exp(t - max(t)))))
}
d <- save_sim(rinv(dcmp, mu, nu = 1.8), "fam2_compois.csv")
fit("sim_compois", quote(glmmTMB(y ~ x + (1 | g), d, family = compois)), "y ~ x + (1 | g)",
    "data/fam2_compois.csv", "compois")

size <- sample(5:20, n, replace = TRUE); mub <- plogis(-0.5 + 0.8 * x + b)
succ <- rbinom(n, size, rbeta(n, mub * 4, (1 - mub) * 4))
d <- save_sim(succ, "fam2_betabinomial.csv", trials = size)
fit("sim_betabinomial", quote(glmmTMB(cbind(y, trials - y) ~ x + (1 | g), d, family = betabinomial)),
    "cbind(y, trials - y) ~ x + (1 | g)", "data/fam2_betabinomial.csv", "betabinomial")

mu <- exp(0.5 + 0.5 * x + b)
rpos <- function(draw) { v <- draw(); while (any(v == 0)) { z <- v == 0; v[z] <- draw()[z] }; v }
d <- save_sim(rpos(function() rpois(n, mu)), "fam2_trunc_poisson.csv")
fit("sim_truncated_poisson", quote(glmmTMB(y ~ x + (1 | g), d, family = truncated_poisson)),
    "y ~ x + (1 | g)", "data/fam2_trunc_poisson.csv", "truncated_poisson")
d <- save_sim(rpos(function() rnbinom(n, size = 2, mu = mu)), "fam2_trunc_nb2.csv")
fit("sim_truncated_nbinom2", quote(glmmTMB(y ~ x + (1 | g), d, family = truncated_nbinom2)),
    "y ~ x + (1 | g)", "data/fam2_trunc_nb2.csv", "truncated_nbinom2")

mu <- exp(0.5 + 0.7 * x + b)
yg <- round(ifelse(runif(n) < 0.3, 0, rgamma(n, shape = 2, scale = mu / 2)), 6)
d <- save_sim(yg, "fam2_zigamma.csv")
fit("sim_zigamma", quote(glmmTMB(y ~ x + (1 | g), d, family = ziGamma(link = "log"), ziformula = ~1)),
    "y ~ x + (1 | g)", "data/fam2_zigamma.csv", "zigamma", link = "log")

# -- the lognormal, by TMB (glmmTMB's later parametrisation) -------------------------------
compile("lognormal_tmb.cpp")
dyn.load(dynlib("lognormal_tmb"))
on.exit(unlink(c("lognormal_tmb.o", "lognormal_tmb.so")), add = TRUE)
lognormal_fit <- function(y, X, grp) {
  dat <- list(y = y, X = X, g = as.integer(grp) - 1L)
  obj <- MakeADFun(dat, list(beta = rep(0, ncol(X)), logsd = 0, logsigma = log(sd(y)),
                             b = rep(0, nlevels(grp))), random = "b", DLL = "lognormal_tmb",
                   silent = TRUE)
  obj$par[1] <- log(mean(y))
  opt <- nlminb(obj$par, obj$fn, obj$gr, control = list(eval.max = 2000, iter.max = 2000))
  opt$convergence <- if (max(abs(obj$gr(opt$par))) < 1e-5) 0L else 1L  # the gradient at the end
  sdr <- sdreport(obj); V <- sdr$cov.fixed; se <- sqrt(diag(V)); p <- ncol(X)
  list(fixef = as.list(setNames(opt$par[1:p], colnames(X))), se = as.list(unname(se[1:p])),
       variance = exp(2 * opt$par[p + 1]), betad = list(est = unname(opt$par[p + 2]),
       se = unname(se[p + 2])), loglik = -opt$objective, aic = 2 * opt$objective + 2 * (p + 2),
       nobs = length(y), converged = opt$convergence == 0)
}
mu <- exp(1 + 0.5 * x + b); s <- 1.5; v <- log(1 + (s / mu)^2)
d <- save_sim(round(rlnorm(n, log(mu) - v / 2, sqrt(v)), 6), "fam2_lognormal.csv")
X <- model.matrix(~ x, d); colnames(X) <- c("(Intercept)", "x")
t0 <- system.time(r <- lognormal_fit(d$y, X, d$g))[["elapsed"]]
fx$sim_lognormal <- c(list(formula = "y ~ x + (1 | g)", data = "data/fam2_lognormal.csv",
                           family = "lognormal", seconds = t0), r)
X <- model.matrix(~ Days, sleep)
t0 <- system.time(r <- lognormal_fit(sleep$Reaction, X, sleep$Subject))[["elapsed"]]
fx$sleep_lognormal <- c(list(formula = "Reaction ~ Days + (1 | Subject)", data = "sleepstudy",
                             family = "lognormal", seconds = t0), r)

# (drawn last, so that the data sets above keep their draws)
mu <- exp(0.5 + 0.5 * x + b)
d <- save_sim(rpos(function() rnbinom(n, size = mu / 1.5, prob = 1 / 2.5)), "fam2_trunc_nb1.csv")
fit("sim_truncated_nbinom1", quote(glmmTMB(y ~ x + (1 | g), d, family = truncated_nbinom1)),
    "y ~ x + (1 | g)", "data/fam2_trunc_nb1.csv", "truncated_nbinom1")

out <- list(generated_by = "glmmtmb_families2.R",
  glmmTMB_version = as.character(packageVersion("glmmTMB")),
  TMB_version = as.character(packageVersion("TMB")), fixtures = fx)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "glmmtmb_families2.json")
unlink(c("lognormal_tmb.o", "lognormal_tmb.so"))
