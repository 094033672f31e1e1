# References for prediction with standard errors, read by tests/test_predict.py.
# Run from this directory:  Rscript predict_se.R  -> predict_se.json
#
# glmmTMB: predict(m, newdata, se.fit = TRUE, re.form = NA) (fixed part only) and
# re.form = NULL (random effects included; new levels allowed), on the link and response
# scales, for cbpp (binomial), Salamanders (Poisson and NB2) and sleepstudy (ML and REML).
# Each fit also records glmmTMB's estimates, vcov and sqrt(diag(X vcov X')) on the new rows
# (the fixed-part SE from glmmTMB's own covariance, the reference where glmmTMB's predict
# itself is not: with REML = TRUE glmmTMB treats beta as random and its re.form = NA SE is not
# sqrt(diag(X vcov X'))).
# lme4: predict values (no SE) for re.form = NA, NULL and each single term of models with two
# random terms (lmer on Penicillin, glmer on grouseticks).
suppressPackageStartupMessages({library(glmmTMB); library(lme4); library(jsonlite)})
ds <- "../../interlace/datasets/"
rd <- function(name, factors) {
  cc <- setNames(rep("factor", length(factors)), factors)
  read.csv(file.path(ds, paste0(name, ".csv")), colClasses = cc)
}
cbpp <- rd("cbpp", c("herd", "period"))
sal <- rd("Salamanders", c("site", "mined", "spp"))
sleep <- rd("sleepstudy", "Subject")
pen <- rd("Penicillin", c("plate", "sample"))
grouse <- rd("grouseticks", c("INDEX", "BROOD", "YEAR", "LOCATION"))

# new rows: every fixed-effect level, a level combination absent from the data, a new group
nd_cbpp <- data.frame(period = factor(c("1", "2", "3", "4", "4", "2", "3"), levels = levels(cbpp$period)),
                      herd = factor(c("1", "1", "1", "1", "2", "8", "99")))
nd_sal <- data.frame(mined = factor(c("yes", "no", "no", "yes", "no"), levels = levels(sal$mined)),
                     site = factor(c("VF-1", "VF-1", "R-1", "R-1", "NEW")))
nd_sleep <- data.frame(Days = c(0, 5, 10, 12.5, 3, 7),
                       Subject = factor(c("308", "309", "310", "333", "999", "308")))

pred_tmb <- function(m, nd, form) {
  one <- function(re, type) {
    p <- predict(m, newdata = nd, se.fit = TRUE, re.form = re, type = type, allow.new.levels = TRUE)
    list(fit = unname(p$fit), se = unname(p$se.fit))
  }
  X <- model.matrix(form, nd)
  V <- vcov(m)$cond
  list(fixef = unname(fixef(m)$cond), fe_names = names(fixef(m)$cond),
       vcov = unname(as.matrix(V)), loglik = as.numeric(logLik(m)),
       se_vcov = unname(sqrt(rowSums((X %*% V) * X))),
       fixed_link = one(NA, "link"), fixed_response = one(NA, "response"),
       full_link = one(NULL, "link"), full_response = one(NULL, "response"))
}
cols <- function(nd) lapply(nd, function(v) as.character(v))

out <- list(generated_by = "predict_se.R",
            glmmTMB_version = as.character(packageVersion("glmmTMB")),
            lme4_version = as.character(packageVersion("lme4")))
fx <- list()
m <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
fx$cbpp <- c(list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                  data = "cbpp", family = "binomial", newdata = cols(nd_cbpp)),
             pred_tmb(m, nd_cbpp, ~ period))
m <- glmmTMB(count ~ mined + (1 | site), sal, family = poisson)
fx$sal_pois <- c(list(formula = "count ~ mined + (1 | site)", data = "Salamanders",
                      family = "poisson", newdata = cols(nd_sal)),
                 pred_tmb(m, nd_sal, ~ mined))
m <- glmmTMB(count ~ mined + (1 | site), sal, family = nbinom2)
fx$sal_nb2 <- c(list(formula = "count ~ mined + (1 | site)", data = "Salamanders",
                     family = "nbinom2", newdata = cols(nd_sal)),
                pred_tmb(m, nd_sal, ~ mined))
for (reml in c(FALSE, TRUE)) {
  m <- glmmTMB(Reaction ~ Days + (Days | Subject), sleep, REML = reml)
  key <- if (reml) "sleep_reml" else "sleep_ml"
  fx[[key]] <- c(list(formula = "Reaction ~ Days + (Days | Subject)", data = "sleepstudy",
                      family = "gaussian", reml = reml, newdata = list(Days = nd_sleep$Days,
                      Subject = as.character(nd_sleep$Subject))),
                 pred_tmb(m, nd_sleep, ~ Days))
}
out$glmmTMB <- fx

# lme4: partial re.form on models with two random terms
pred_lme4 <- function(m, nd, forms, types) {
  res <- list()
  for (nm in names(forms)) for (type in types) {
    res[[paste(nm, type, sep = "_")]] <- unname(predict(m, newdata = nd, re.form = forms[[nm]],
                                                        type = type, allow.new.levels = TRUE))
  }
  res
}
nd_pen <- data.frame(plate = factor(c("a", "b", "x", "c", "zz")),
                     sample = factor(c("A", "F", "B", "new", "C")))
m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen, REML = TRUE)
l4 <- list()
l4$penicillin <- list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", data = "Penicillin",
                      reml = TRUE, newdata = cols(nd_pen),
                      pred = pred_lme4(m, nd_pen, list(na = NA, full = NULL, plate = ~ (1 | plate),
                                                       sample = ~ (1 | sample)), "link"))
nd_gr <- data.frame(YEAR = factor(c("95", "96", "97", "96", "97"), levels = levels(grouse$YEAR)),
                    cHEIGHT = c(0, 10.5, -20, 3, 0),
                    BROOD = factor(c("501", "602", "701", "999", "606")),
                    LOCATION = factor(c("32", "36", "999", "45", "20")))
m <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), grouse, family = poisson)
l4$grouse <- list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                  data = "grouseticks", family = "poisson",
                  newdata = list(YEAR = as.character(nd_gr$YEAR), cHEIGHT = nd_gr$cHEIGHT,
                                 BROOD = as.character(nd_gr$BROOD),
                                 LOCATION = as.character(nd_gr$LOCATION)),
                  pred = pred_lme4(m, nd_gr, list(na = NA, full = NULL, brood = ~ (1 | BROOD),
                                                  location = ~ (1 | LOCATION)),
                                   c("link", "response")))
out$lme4 <- l4
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "predict_se.json")
