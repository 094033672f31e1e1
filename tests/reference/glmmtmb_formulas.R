# glmmTMB references for covariate-dependent family parameters (ziformula / dispformula),
# read by tests/test_family_formulas.py. Run from this directory:
#   Rscript glmmtmb_formulas.R  -> glmmtmb_formulas.json (+ data/form_beta.csv)
# zi coefficients are on the logit scale, disp coefficients on glmmTMB's log-dispersion scale
# (nbinom2: log theta; beta and nbinom1: log phi), as interlace's zi_params / disp_params;
# for gaussian glmmTMB 1.1.5 models log sigma^2, interlace log sigma (half of it).
source("glmmtmb_common.R")
timed5 <- function(expr) timed(expr, reps = 5)
part <- function(m, which) {
  fe <- fixef(m)[[which]]
  if (!length(fe)) return(NULL)
  list(names = names(fe), estimate = unname(fe), se = unname(sqrt(diag(vcov(m)[[which]]))))
}
rec <- function(r, formula, data, family, ziformula = "~1", dispformula = "~1") {
  m <- r$m
  list(formula = formula, data = data, family = family, ziformula = ziformula,
       dispformula = dispformula, cond = part(m, "cond"), zi = part(m, "zi"),
       disp = part(m, "disp"), variance = unname(VarCorr(m)$cond[[1]][1, 1]),
       loglik = as.numeric(logLik(m)), aic = AIC(m), nobs = nobs(m),
       converged = m$fit$convergence == 0 && isTRUE(m$sdr$pdHess), seconds = r$t,
       # first 20 rows: E[y], the linked (conditional) mean, the zero probability, and
       # Pearson residuals (y - E[y]) / sqrt(Var y)
       fitted_head = unname(head(fitted(m), 20)),
       conditional_head = unname(head(predict(m, type = "conditional"), 20)),
       zprob_head = unname(head(predict(m, type = "zprob"), 20)),
       pearson_head = unname(head(residuals(m, type = "pearson"), 20)))
}
fx <- list()
f <- count ~ mined + spp + (1 | site)
fs <- "count ~ mined + spp + (1 | site)"
fx$sal_zip_mined <- rec(timed5(quote(glmmTMB(f, sal, family = poisson, ziformula = ~mined))),
                        fs, "Salamanders", "zipoisson", ziformula = "~mined")
fx$sal_zinb2_mined <- rec(timed5(quote(glmmTMB(f, sal, family = nbinom2, ziformula = ~mined))),
                          fs, "Salamanders", "zinbinom2", ziformula = "~mined")
fx$sal_hurdle_mined <- rec(timed5(quote(glmmTMB(f, sal, family = truncated_poisson, ziformula = ~mined))),
                           fs, "Salamanders", "hurdle_poisson", ziformula = "~mined")
fx$sal_hurdle_nb2_mined <- rec(timed5(quote(glmmTMB(f, sal, family = truncated_nbinom2, ziformula = ~mined))),
                               fs, "Salamanders", "hurdle_nbinom2", ziformula = "~mined")
fx$sal_nb2_disp <- rec(timed5(quote(glmmTMB(f, sal, family = nbinom2, dispformula = ~mined))),
                       fs, "Salamanders", "nbinom2", dispformula = "~mined")
fo <- SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)
fx$owls_nb1_disp <- rec(timed5(quote(glmmTMB(fo, owls, family = nbinom1, dispformula = ~FoodTreatment))),
  "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
  "Owls", "nbinom1", dispformula = "~FoodTreatment")

# Gaussian with a residual variance that changes with Days (glmmTMB 1.1.5's disp is log sigma^2)
sl <- read.csv(file.path(ds, "sleepstudy.csv"), colClasses = c(Subject = "factor"))
fx$sleep_gauss_disp <- rec(timed5(quote(glmmTMB(Reaction ~ Days + (1 | Subject), sl, dispformula = ~Days))),
                           "Reaction ~ Days + (1 | Subject)", "sleepstudy", "gaussian", dispformula = "~Days")

# Beta with a precision that falls with a continuous covariate (simulated and saved)
set.seed(21)
g <- rep(sprintf("g%02d", 1:30), each = 15); x <- round(runif(450), 6); z <- round(rnorm(450), 6)
b <- rnorm(30, sd = 0.5)[as.integer(factor(g))]
mu <- plogis(-0.2 + 0.8 * x + b); phi <- exp(2.0 - 0.7 * z)
y <- pmin(pmax(round(rbeta(450, mu * phi, (1 - mu) * phi), 6), 1e-6), 1 - 1e-6)
write.csv(data.frame(y = y, x = x, z = z, g = g), "data/form_beta.csv", row.names = FALSE)
d <- read.csv("data/form_beta.csv", colClasses = c(g = "factor"))
fx$beta_disp <- rec(timed5(quote(glmmTMB(y ~ x + (1 | g), d, family = beta_family(), dispformula = ~z))),
                    "y ~ x + (1 | g)", "data/form_beta.csv", "beta", dispformula = "~z")

out <- list(generated_by = "glmmtmb_formulas.R",
  glmmTMB_version = as.character(packageVersion("glmmTMB")), fixtures = fx)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), "glmmtmb_formulas.json")
