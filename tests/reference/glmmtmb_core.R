# glmmTMB references for Laplace fits with the observed information (interlace's
# LaplaceIntegrator(information="observed")), where lme4 is not the reference:
#  - a Gaussian GLMM with a log link (lme4's glmer profiles sigma from the conditional
#    deviance for Gaussian families, a different criterion from the marginal likelihood);
# Run from this directory:  Rscript glmmtmb_core.R   -> glmmtmb_core.json (+ data/gauss_log.csv)
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(7)
dir.create("data", showWarnings = FALSE)
g <- rep(sprintf("g%02d", 1:30), each = 10); x <- round(runif(300), 6)
mu <- exp(1 + 0.8 * x + rnorm(30, sd = 0.3)[as.integer(factor(g))])
y <- round(mu + rnorm(300, sd = 0.5), 6)
write.csv(data.frame(y = y, x = x, g = g), "data/gauss_log.csv", row.names = FALSE)
d <- read.csv("data/gauss_log.csv", colClasses = c(g = "factor"))
m <- glmmTMB(y ~ x + (1 | g), d, family = gaussian(link = "log"))
# Poisson with an identity link (lme4's PIRLS fails on it here): positive means by design
set.seed(11)
g2 <- rep(sprintf("s%02d", 1:25), each = 12); x2 <- round(runif(300), 6)
mu2 <- 4 + 3 * x2 + rnorm(25, sd = 1)[as.integer(factor(g2))]
write.csv(data.frame(y = rpois(300, mu2), x = x2, g = g2), "data/pois_identity.csv", row.names = FALSE)
d2 <- read.csv("data/pois_identity.csv", colClasses = c(g = "factor"))
m2 <- glmmTMB(y ~ x + (1 | g), d2, family = poisson(link = "identity"))
out <- list(generated_by = "glmmtmb_core.R", glmmTMB_version = as.character(packageVersion("glmmTMB")),
  fixtures = list(gauss_log = list(formula = "y ~ x + (1 | g)", data = "data/gauss_log.csv",
    family = "gaussian", link = "log", fixef = as.list(fixef(m)$cond),
    se = as.list(sqrt(diag(vcov(m)$cond))), sigma = sigma(m),
    variance = unname(VarCorr(m)$cond$g[1, 1]), loglik = as.numeric(logLik(m)),
    aic = AIC(m), nobs = nobs(m)),
  pois_identity = list(formula = "y ~ x + (1 | g)", data = "data/pois_identity.csv",
    family = "poisson", link = "identity", fixef = as.list(fixef(m2)$cond),
    se = as.list(sqrt(diag(vcov(m2)$cond))), variance = unname(VarCorr(m2)$cond$g[1, 1]),
    loglik = as.numeric(logLik(m2)), aic = AIC(m2), nobs = nobs(m2))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmmtmb_core.json")
