# Reference values for simulate(), refit(), bootstrap() and anova(method = "bootstrap") from
# lme4 (simulate.merMod, refit, bootMer, confint of a bootMer object as confint(method = "boot")
# computes it) and pbkrtest (PBmodcomp).
# Run from this directory:  Rscript bootstrap.R   -> bootstrap.json   (about 5 minutes)
suppressPackageStartupMessages({
  library(lme4)
  library(pbkrtest)
  library(jsonlite)
})
ds <- function(name, ...) read.csv(file.path("..", "..", "interlace", "datasets", paste0(name, ".csv")), ...)
cbpp <- ds("cbpp", colClasses = c(herd = "factor", period = "factor"))
sleep <- ds("sleepstudy", colClasses = c(Subject = "factor"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
out <- list(versions = list(lme4 = as.character(packageVersion("lme4")),
                            pbkrtest = as.character(packageVersion("pbkrtest")),
                            R = R.version.string))

gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
lm_reml <- lmer(Reaction ~ Days + (Days | Subject), sleep)

# the statistic: every parameter on its natural scale in confint's order (SDs and correlations
# term by term, sigma, fixed effects), as interlace's natural_params
stat_glmm <- function(x) c(getME(x, "theta"), fixef(x))
stat_lmm <- function(x) {
  th <- getME(x, "theta"); s <- sigma(x)
  L <- matrix(c(th[1], th[2], 0, th[3]), 2)  # lower triangle by column
  V <- s^2 * L %*% t(L)
  c(sqrt(V[1, 1]), V[1, 2] / sqrt(V[1, 1] * V[2, 2]), sqrt(V[2, 2]), s, fixef(x))
}
summ <- function(b, level = 0.95) {
  t <- b$t
  ok <- stats::complete.cases(t)
  ci <- confint(b, level = level, type = "perc")  # what confint(method = "boot") reports
  list(nsim = nrow(t), nok = sum(ok), t0 = unname(b$t0), mean = unname(colMeans(t[ok, ])),
       sd = unname(apply(t[ok, ], 2, sd)), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
       level = level)
}

# bootMer: 500 unconditional replicates each (use.u = FALSE, type = "parametric": the defaults)
b_cbpp <- bootMer(gm, stat_glmm, nsim = 500, seed = 20261201)
out$boot_cbpp <- c(list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"),
                   summ(b_cbpp))
b_sleep <- bootMer(lm_reml, stat_lmm, nsim = 500, seed = 20261202)
out$boot_sleep <- c(list(formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE),
                    summ(b_sleep))

# simulate(): 4000 unconditional draws (re.form = NA, lme4's default); per-row mean and variance
# of the proportions (cbpp) and of the response (sleepstudy)
s_cbpp <- simulate(gm, nsim = 4000, seed = 20261203)
p_cbpp <- sapply(s_cbpp, function(m) m[, 1] / rowSums(m))
s_sleep <- as.matrix(simulate(lm_reml, nsim = 4000, seed = 20261204))
out$simulate <- list(nsim = 4000,
                     cbpp_mean = unname(rowMeans(p_cbpp)), cbpp_var = unname(apply(p_cbpp, 1, var)),
                     sleep_mean = unname(rowMeans(s_sleep)), sleep_var = unname(apply(s_sleep, 1, var)))

# refit(): one simulated response, refitted (lme4 starts at the fit's parameters)
y1 <- simulate(gm, nsim = 1, seed = 20261205)[[1]]
r1 <- refit(gm, newresp = y1)
y2 <- simulate(lm_reml, nsim = 1, seed = 20261206)[[1]]
r2 <- refit(lm_reml, newresp = y2)
out$refit_cbpp <- list(y = unname(y1[, 1] / rowSums(y1)), theta = unname(getME(r1, "theta")),
                       fixef = unname(fixef(r1)), loglik = as.numeric(logLik(r1)))
out$refit_sleep <- list(y = unname(y2), theta = unname(getME(r2, "theta")), sigma = sigma(r2),
                        fixef = unname(fixef(r2)), reml = REMLcrit(r2))
# lme4's refit of this LMM stops short of the optimum and reports a REML criterion that its own
# deviance function does not give at its theta: lmer on the new response, for comparison
f2 <- lmer(Reaction ~ Days + (Days | Subject), transform(sleep, Reaction = y2))
out$refit_sleep$lmer <- list(theta = unname(getME(f2, "theta")), sigma = sigma(f2),
                             fixef = unname(fixef(f2)), reml = REMLcrit(f2),
                             devfun_at_refit_theta = as.function(f2)(getME(r2, "theta")))

# PBmodcomp: the parametric-bootstrap likelihood-ratio test of nested models (ML fits)
pb <- function(large, small, nsim, seed, label) {
  x <- PBmodcomp(large, small, nsim = nsim, seed = seed)
  ref <- x$ref
  list(models = label, lrt = x$test["LRT", "stat"], df = x$test["LRT", "df"],
       p_chisq = x$test["LRT", "p.value"], p_pb = x$test["PBtest", "p.value"], nsim = nsim,
       npos = unname(x$samples["npos"]), n_extreme = x$n.extreme,
       ref_mean = mean(ref), ref_sd = sd(ref))
}
s1 <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
s0 <- lmer(Reaction ~ Days + (Days || Subject), sleep, REML = FALSE)
out$pb_sleep <- pb(s1, s0, 1000, 20261207,
                   c("Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + (Days | Subject)"))
g0 <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial)
out$pb_cbpp <- pb(gm, g0, 500, 20261208,
                  c("cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
                    "cbind(incidence, size - incidence) ~ period + (1 | herd)"))

write_json(out, "bootstrap.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
