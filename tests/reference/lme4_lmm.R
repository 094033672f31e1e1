# Reference values for interlace.fit() (linear mixed models) from lme4::lmer and lmerTest.
# Run from this directory:  Rscript lme4_lmm.R   -> lme4_lmm.json (and data/lmm_nested.csv)
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})
ds <- function(name, ...) read.csv(file.path("..", "..", "interlace", "datasets", paste0(name, ".csv")), ...)
sleep <- ds("sleepstudy", colClasses = c(Subject = "factor"))
pen <- ds("Penicillin", colClasses = c(plate = "factor", sample = "factor"))

# A nested design (classes within schools), simulated and written before fitting.
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261124)
dir.create("data", showWarnings = FALSE)
school <- rep(sprintf("s%02d", 1:20), each = 30)
class <- paste0("c", rep(rep(1:5, each = 6), 20))
x <- round(rnorm(600), 6)
b_s <- rnorm(20, sd = 1.0)[as.integer(factor(school))]
b_c <- rnorm(100, sd = 0.6)[as.integer(factor(paste(school, class)))]
y <- round(2 + 0.5 * x + b_s + b_c + rnorm(600, sd = 0.8), 6)
write.csv(data.frame(y = y, x = x, school = school, class = class), "data/lmm_nested.csv", row.names = FALSE)
nested <- read.csv("data/lmm_nested.csv", colClasses = c(school = "factor", class = "factor"))

rec <- function(formula, data, data_name, REML) {
  f <- as.formula(formula)
  m <- lmerTest::lmer(f, data = data, REML = REML)
  co <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  ll <- logLik(m)
  list(formula = formula, data = data_name, REML = REML,
       fixef = as.list(fixef(m)), se = as.list(setNames(co[, "Std. Error"], rownames(co))),
       df_satterthwaite = as.list(setNames(co[, "df"], rownames(co))),
       p_satterthwaite = as.list(setNames(co[, "Pr(>|t|)"], rownames(co))),
       theta = unname(getME(m, "theta")), sigma = sigma(m),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
                        var2 = vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
       loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
       reml_criterion = if (REML) unname(getME(m, "devcomp")$cmp["REML"]) else NA,
       deviance_ml = unname(getME(m, "devcomp")$cmp["dev"]),
       nobs = nobs(m), ngroups = as.list(ngrps(m)),
       ranef = lapply(ranef(m), function(d) list(levels = rownames(d), columns = colnames(d),
                      values = unname(as.matrix(d)))),
       fitted_head = unname(head(fitted(m), 10)))
}
fx <- list(
  sleep_reml = rec("Reaction ~ Days + (Days | Subject)", sleep, "sleepstudy", TRUE),
  sleep_ml = rec("Reaction ~ Days + (Days | Subject)", sleep, "sleepstudy", FALSE),
  sleep_uncorr_reml = rec("Reaction ~ Days + (Days || Subject)", sleep, "sleepstudy", TRUE),
  penicillin_reml = rec("diameter ~ 1 + (1 | plate) + (1 | sample)", pen, "Penicillin", TRUE),
  nested_reml = rec("y ~ x + (1 | school/class)", nested, "data/lmm_nested.csv", TRUE)
)
# anova(): lme4 refits REML fits by ML before the likelihood-ratio test
m0 <- lme4::lmer(Reaction ~ Days + (Days || Subject), sleep)
m1 <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleep)
a <- suppressMessages(anova(m0, m1))
fx$anova_sleep <- list(models = c("Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + (Days | Subject)"),
                       npar = a$npar, logLik = a$logLik, deviance = a$deviance,
                       chisq = a$Chisq, df = a$Df, p = a[["Pr(>Chisq)"]])
tm <- system.time(for (i in 1:50) lme4::lmer(Reaction ~ Days + (Days | Subject), sleep))[["elapsed"]] / 50
out <- list(R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
            lmerTest_version = as.character(packageVersion("lmerTest")),
            generated_by = "lme4_lmm.R", lmer_sleepstudy_seconds = tm, fixtures = fx)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE), "lme4_lmm.json")
cat("wrote lme4_lmm.json\n")
