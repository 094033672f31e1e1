# glmmTMB references for random effects in ziformula beyond glmmtmb_families2.R's ZIP
# (tests/test_zi_gradient.py): the zero-inflated NB2 on Salamanders and on Owls, and the
# Poisson hurdle on Salamanders, each with a random intercept in both parts.
# Run from this directory:  Rscript glmmtmb_zi_random.R  -> glmmtmb_zi_random.json
# Estimates on glmmTMB's internal scale with standard errors (betad = log theta, betazi =
# the zero part's coefficients, theta = log SD of the conditional random intercept, thetazi
# = that of the zero part's).
source("glmmtmb_common.R")
rec <- function(m, formula, data, family, ziformula) {
  V <- vcov(m, full = TRUE); se <- sqrt(diag(V))
  kinds <- names(m$fit$par)
  pick <- function(k) { i <- which(kinds == k); list(est = unname(m$fit$par[i]), se = unname(se[i])) }
  out <- list(formula = formula, data = data, family = family, ziformula = ziformula,
              fixef = as.list(fixef(m)$cond), loglik = as.numeric(logLik(m)),
              converged = m$fit$convergence == 0, pdHess = m$sdr$pdHess)
  for (k in c("beta", "betazi", "betad", "theta", "thetazi")) {
    p <- pick(k)
    if (length(p$est)) out[[k]] <- p
  }
  out
}
fx <- list()
fit <- function(key, formula, data, family, ziformula) {
  m <- glmmTMB(as.formula(formula), data = get(data), family = get(family),
               ziformula = as.formula(ziformula))
  fx[[key]] <<- rec(m, formula, if (data == "sal") "Salamanders" else "Owls",
                    family, ziformula)
  message(key, ": logLik ", fx[[key]]$loglik)
}
fit("sal_zinb2_re", "count ~ spp + mined + (1 | site)", "sal", "nbinom2", "~ spp + (1 | site)")
fit("owls_zinb2_re", paste("SiblingNegotiation ~ FoodTreatment * SexParent +",
                           "offset(log(BroodSize)) + (1 | Nest)"), "owls", "nbinom2",
    "~ FoodTreatment + (1 | Nest)")
fit("sal_hurdle_re", "count ~ mined + (1 | site)", "sal", "truncated_poisson",
    "~ mined + (1 | site)")
writeLines(toJSON(list(glmmTMB = as.character(packageVersion("glmmTMB")), fixtures = fx),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmmtmb_zi_random.json")
