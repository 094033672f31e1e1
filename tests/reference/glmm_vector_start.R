# Reference for a Poisson GLMM with a correlated random slope whose optimum lies on the
# boundary (correlation 1): c = round(Reaction / 10) on lme4's sleepstudy.
#   cd tests/reference && Rscript glmm_vector_start.R   (writes glmm_vector_start.json)
# glmmTMB reaches the higher log-likelihood; lme4 (default start, the identity) stops lower,
# below even the nested random-intercept model, which the correlated model contains.
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})
s <- read.csv(file.path("..", "..", "interlace", "datasets", "sleepstudy.csv"))
s$Subject <- factor(s$Subject)
s$c <- round(s$Reaction / 10)
g <- glmmTMB(c ~ Days + (Days | Subject), s, family = poisson)
m <- glmer(c ~ Days + (Days | Subject), s, family = poisson)
m0 <- glmer(c ~ Days + (1 | Subject), s, family = poisson)
vc <- VarCorr(g)$cond$Subject
out <- list(
  glmmTMB = list(loglik = as.numeric(logLik(g)), fixef = unname(fixef(g)$cond),
                 sd = unname(attr(vc, "stddev")), cor = attr(vc, "correlation")[1, 2]),
  lme4 = list(loglik = as.numeric(logLik(m))),
  lme4_intercept_only = list(loglik = as.numeric(logLik(m0))),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  glmmTMB = as.character(packageVersion("glmmTMB")))
)
write_json(out, "glmm_vector_start.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
