# glmmTMB references for the extended families (tests/test_families_parity.py).
# Run from this directory:  Rscript glmmtmb_families.R  -> glmmtmb_families.json (+ data/fam_*.csv)
# Family parameters are recorded on glmmTMB's internal scale with their standard errors:
# disp = log of the dispersion parameter (nbinom2: log theta; nbinom1 and beta: log phi;
# Gamma: log shape, sigma() = 1/sqrt(shape)), zi = logit of the zero probability.
source("glmmtmb_common.R")
rec <- function(m, formula, data, family, extra = list(), t = NA) {
  V <- vcov(m, full = TRUE); se <- sqrt(diag(V))
  fe <- fixef(m)
  vc <- VarCorr(m)$cond
  out <- list(formula = formula, data = data, family = family,
    fixef = as.list(fe$cond), se = as.list(se[seq_along(fe$cond)]),
    sigma = sigma(m), variance = unname(vc[[1]][1, 1]),
    loglik = as.numeric(logLik(m)), aic = AIC(m), nobs = nobs(m), seconds = t)
  if (length(fe$disp)) { out$disp <- unname(fe$disp[1]); out$disp_se <- unname(se[grep("^d~|disp", names(se))][1]) }
  if (length(fe$zi)) { out$zi <- unname(fe$zi[1]); out$zi_se <- unname(se[grep("^zi~|zi", names(se))][1]) }
  c(out, extra)
}
fx <- list()

# Salamanders: nbinom2, ZIP and hurdle Poisson (ziformula = ~1)
f <- count ~ mined + spp + (1 | site)
r <- timed(quote(glmmTMB(f, sal, family = nbinom2)))
nb <- r$m
rn <- timed(quote(glmer.nb(f, data = sal)), reps = 1)
g <- rn$m
fx$sal_nb2 <- rec(nb, "count ~ mined + spp + (1 | site)", "Salamanders", "nbinom2", t = r$t,
  extra = list(glmer_nb = list(fixef = as.list(fixef(g)), se = as.list(sqrt(diag(as.matrix(vcov(g))))),
    theta = getME(g, "glmer.nb.theta"), variance = unname(VarCorr(g)$site[1, 1]),
    loglik = as.numeric(logLik(g)), aic = AIC(g), seconds = rn$t)))
r <- timed(quote(glmmTMB(f, sal, family = poisson, ziformula = ~1)))
fx$sal_zip <- rec(r$m, "count ~ mined + spp + (1 | site)", "Salamanders", "zipoisson", t = r$t)
r <- timed(quote(glmmTMB(f, sal, family = truncated_poisson, ziformula = ~1)))
fx$sal_hurdle <- rec(r$m, "count ~ mined + spp + (1 | site)", "Salamanders", "hurdle_poisson", t = r$t)
r <- timed(quote(glmmTMB(f, sal, family = truncated_nbinom2, ziformula = ~1)))
fx$sal_hurdle_nb2 <- rec(r$m, "count ~ mined + spp + (1 | site)", "Salamanders", "hurdle_nbinom2", t = r$t)

# Owls: nbinom1 with an offset
r <- timed(quote(glmmTMB(SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest),
                         owls, family = nbinom1)))
fx$owls_nb1 <- rec(r$m, "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
                   "Owls", "nbinom1", t = r$t)

# Simulated: Gamma (log and inverse links), Beta, NB1, ZINB2
set.seed(11)
g <- rep(sprintf("g%02d", 1:25), each = 12); x <- round(runif(300), 6); b <- rnorm(25, sd = 0.4)[as.integer(factor(g))]
mu <- exp(0.5 + 0.7 * x + b)
y <- round(rgamma(300, shape = 3, scale = mu / 3), 6)
write.csv(data.frame(y = y, x = x, g = g), "data/fam_gamma.csv", row.names = FALSE)
d <- read.csv("data/fam_gamma.csv", colClasses = c(g = "factor"))
r <- timed(quote(glmmTMB(y ~ x + (1 | g), d, family = Gamma(link = "log"))))
fx$gamma_log <- rec(r$m, "y ~ x + (1 | g)", "data/fam_gamma.csv", "gamma", t = r$t, extra = list(link = "log"))
mu2 <- 1 / (0.5 + 0.3 * x + abs(b) * 0.3)
y2 <- round(rgamma(300, shape = 4, scale = mu2 / 4), 6)
write.csv(data.frame(y = y2, x = x, g = g), "data/fam_gamma_inv.csv", row.names = FALSE)
d <- read.csv("data/fam_gamma_inv.csv", colClasses = c(g = "factor"))
r <- timed(quote(glmmTMB(y ~ x + (1 | g), d, family = Gamma(link = "inverse"))))
fx$gamma_inverse <- rec(r$m, "y ~ x + (1 | g)", "data/fam_gamma_inv.csv", "gamma", t = r$t, extra = list(link = "inverse"))

mub <- plogis(-0.3 + 0.9 * x + b)
yb <- round(rbeta(300, mub * 8, (1 - mub) * 8), 6)
yb <- pmin(pmax(yb, 1e-6), 1 - 1e-6)
write.csv(data.frame(y = yb, x = x, g = g), "data/fam_beta.csv", row.names = FALSE)
d <- read.csv("data/fam_beta.csv", colClasses = c(g = "factor"))
r <- timed(quote(glmmTMB(y ~ x + (1 | g), d, family = beta_family())))
fx$beta <- rec(r$m, "y ~ x + (1 | g)", "data/fam_beta.csv", "beta", t = r$t)

muc <- exp(1 + 0.5 * x + b)
yn <- rnbinom(300, size = muc / 1.5, prob = 1 / (1 + 1.5))
write.csv(data.frame(y = yn, x = x, g = g), "data/fam_nb1.csv", row.names = FALSE)
d <- read.csv("data/fam_nb1.csv", colClasses = c(g = "factor"))
r <- timed(quote(glmmTMB(y ~ x + (1 | g), d, family = nbinom1)))
fx$nb1_sim <- rec(r$m, "y ~ x + (1 | g)", "data/fam_nb1.csv", "nbinom1", t = r$t)

yz <- ifelse(runif(300) < 0.25, 0, rnbinom(300, size = 2, mu = muc))
write.csv(data.frame(y = yz, x = x, g = g), "data/fam_zinb2.csv", row.names = FALSE)
d <- read.csv("data/fam_zinb2.csv", colClasses = c(g = "factor"))
r <- timed(quote(glmmTMB(y ~ x + (1 | g), d, family = nbinom2, ziformula = ~1)))
fx$zinb2_sim <- rec(r$m, "y ~ x + (1 | g)", "data/fam_zinb2.csv", "zinbinom2", t = r$t)

out <- list(generated_by = "glmmtmb_families.R",
  glmmTMB_version = as.character(packageVersion("glmmTMB")),
  lme4_version = as.character(packageVersion("lme4")), fixtures = fx)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmmtmb_families.json")
