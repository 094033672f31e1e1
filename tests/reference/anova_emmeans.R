# References for one-model hypothesis tests and marginal means, read by tests/test_anova_emmeans.py.
# Run from this directory:  Rscript anova_emmeans.R  -> anova_emmeans.json
#
# 1. data/anova_unbal.csv: an unbalanced simulated design (A: 3 levels, B: 2 levels, covariate x,
#    12 groups g, unequal cell sizes) written here first.
# 2. lmerTest: anova(lmer(y ~ A * B + x + (1 | g)), type = 1, 2, 3, ddf = "Satterthwaite" and
#    "Kenward-Roger"); summary(m, ddf = ...) coefficient df.
#    The same on lmer(Reaction ~ Days + (Days | Subject), sleepstudy) (a correlated slope).
# 3. emmeans (default lmer.df = "kenward-roger") on that LMM: emmeans(m, ~ A), ~ A | B, and
#    pairs() under adjust = "tukey", "holm", "bonferroni".
# 4. emmeans on cbpp glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), binomial):
#    type = "response" (probabilities, delta-method SE) and link-scale pairs under the three adjustments.
#    The same on glmmTMB's fit of that model (the exact Laplace optimum).
# 5. drop1(glmer(count ~ mined + spp + (1 | site), poisson, Salamanders), test = "Chisq"), and
#    drop1(clmm(rating ~ temp + contact + (1 | judge), wine), test = "Chisq").
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(emmeans);
  library(pbkrtest); library(jsonlite)})
set.seed(18)
cells <- expand.grid(A = c("a1", "a2", "a3"), B = c("b1", "b2"))
sizes <- c(9, 5, 7, 4, 8, 11)
rows <- cells[rep(seq_len(nrow(cells)), sizes * 2), ]
n <- nrow(rows)
rows$g <- sample(sprintf("g%02d", 1:12), n, replace = TRUE)
rows$x <- round(rnorm(n, 2, 1), 3)
eff <- c(a1 = 0, a2 = 0.8, a3 = -0.4)[as.character(rows$A)] + (rows$B == "b2") * 0.5 +
  (rows$A == "a2" & rows$B == "b2") * 0.7 + 0.3 * rows$x
u <- rnorm(12, 0, 0.8); names(u) <- sprintf("g%02d", 1:12)
rows$y <- round(eff + u[rows$g] + rnorm(n, 0, 1), 4)
dir.create("data", showWarnings = FALSE)
write.csv(rows[, c("y", "A", "B", "x", "g")], "data/anova_unbal.csv", row.names = FALSE)
d <- read.csv("data/anova_unbal.csv", colClasses = c(A = "factor", B = "factor", g = "factor"))

m <- lmer(y ~ A * B + x + (1 | g), data = d)
tab <- function(a) list(terms = rownames(a), F = unname(a[["F value"]]), NumDF = unname(a$NumDF),
                        DenDF = unname(a$DenDF), p = unname(a[["Pr(>F)"]]),
                        SumSq = unname(a[["Sum Sq"]]), MeanSq = unname(a[["Mean Sq"]]))
out <- list(lmm = list(formula = "y ~ A * B + x + (1 | g)", fixef = unname(fixef(m)),
                       fe_names = names(fixef(m))))
for (ddf in c("Satterthwaite", "Kenward-Roger")) {
  key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward-roger"
  out$lmm$anova[[key]] <- lapply(setNames(1:3, paste0("type", 1:3)),
                                  function(t) tab(anova(m, type = t, ddf = ddf)))
  co <- coef(summary(m, ddf = ddf))
  out$lmm$coef[[key]] <- list(df = unname(co[, "df"]), se = unname(co[, "Std. Error"]),
                               t = unname(co[, "t value"]), p = unname(co[, "Pr(>|t|)"]))
}
emm_tab <- function(e) {
  s <- as.data.frame(summary(e))
  est <- intersect(c("emmean", "prob", "rate", "response", "estimate", "odds.ratio"), names(s))[1]
  lst <- list(estimate = s[[est]], SE = s$SE, df = s$df)
  for (v in setdiff(names(s), c(est, "SE", "df", "lower.CL", "upper.CL", "asymp.LCL", "asymp.UCL",
                                "t.ratio", "z.ratio", "p.value", "null"))) lst[[v]] <- as.character(s[[v]])
  if (!is.null(s$p.value)) lst$p <- s$p.value
  stat <- intersect(c("t.ratio", "z.ratio"), names(s))
  if (length(stat)) lst$stat <- s[[stat]]
  lcl <- intersect(c("lower.CL", "asymp.LCL"), names(s)); if (length(lcl)) {
    lst$lower <- s[[lcl]]; lst$upper <- s[[intersect(c("upper.CL", "asymp.UCL"), names(s))]] }
  lst
}
pairs_all <- function(e) lapply(setNames(nm = c("tukey", "holm", "bonferroni", "none")),
                                function(a) emm_tab(pairs(e, adjust = a)))
# a correlated random slope (three covariance parameters besides the residual's)
sl <- read.csv("../../interlace/datasets/sleepstudy.csv", colClasses = c(Subject = "factor"))
ms <- lmer(Reaction ~ Days + (Days | Subject), data = sl)
out$sleep <- list(formula = "Reaction ~ Days + (Days | Subject)")
for (ddf in c("Satterthwaite", "Kenward-Roger")) {
  key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward-roger"
  out$sleep$anova[[key]] <- tab(anova(ms, ddf = ddf))
  co <- coef(summary(ms, ddf = ddf))
  out$sleep$coef[[key]] <- list(df = unname(co[, "df"]), se = unname(co[, "Std. Error"]))
}
eA <- emmeans(m, ~ A); eAB <- emmeans(m, ~ A | B)
out$lmm$emmeans <- list(A = emm_tab(eA), A_by_B = emm_tab(eAB), pairs_A = pairs_all(eA),
                        pairs_A_by_B = pairs_all(eAB),
                        A_satterthwaite = emm_tab(emmeans(m, ~ A, lmer.df = "satterthwaite")))

cb <- read.csv("../../interlace/datasets/cbpp.csv", colClasses = c(herd = "factor", period = "factor"))
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = cb)
eg <- emmeans(g, ~ period)
out$cbpp <- list(link = emm_tab(eg), response = emm_tab(emmeans(g, ~ period, type = "response")),
                 pairs = pairs_all(eg))

# the exact Laplace optimum (glmmTMB, automatic differentiation): lme4's default glmer stops
# short of it (PIRLS tolerance; finite-difference Hessian), see tests/test_parity_lme4.py
suppressPackageStartupMessages(library(glmmTMB))
gt <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = cb)
et <- emmeans(gt, ~ period, df = Inf)  # asymptotic, as for glmer (emmeans gives glmmTMB residual df)
out$cbpp_tmb <- list(link = emm_tab(et), response = emm_tab(emmeans(gt, ~ period, type = "response", df = Inf)),
                     pairs = pairs_all(et))

sal <- read.csv("../../interlace/datasets/Salamanders.csv", colClasses = c(site = "factor", mined = "factor", spp = "factor"))
gs <- glmer(count ~ mined + spp + (1 | site), family = poisson, data = sal)
dr <- drop1(gs, test = "Chisq")
out$drop1 <- list(formula = "count ~ mined + spp + (1 | site)", terms = rownames(dr),
                  npar = unname(dr$npar), AIC = unname(dr$AIC), LRT = unname(dr$LRT),
                  p = unname(dr[["Pr(Chi)"]]))
# drop1 on an ordinal model: clmm(rating ~ temp + contact + (1 | judge), wine)
suppressPackageStartupMessages(library(ordinal))
w <- read.csv("../../interlace/datasets/wine.csv")
w$rating <- factor(w$rating, ordered = TRUE); w$judge <- factor(w$judge)
dc <- drop1(clmm(rating ~ temp + contact + (1 | judge), data = w), test = "Chisq")
out$drop1_clmm <- list(formula = "rating ~ temp + contact + (1 | judge)", terms = rownames(dc),
                       AIC = unname(dc$AIC), LRT = unname(dc$LRT), p = unname(dc[["Pr(>Chi)"]]))
write_json(out, "anova_emmeans.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
