// The lognormal GLMM with one random intercept, in glmmTMB's parametrisation of the family
// (mean mu and standard deviation sigma on the data scale: log y ~ N(log mu - v/2, v) with
// v = log(1 + (sigma/mu)^2)); TMB's Laplace approximation integrates the random effects.
// Compiled by glmmtmb_families2.R (the reference for interlace's family "lognormal").
#include <TMB.hpp>
template<class Type>
Type objective_function<Type>::operator() ()
{
  DATA_VECTOR(y);
  DATA_MATRIX(X);
  DATA_IVECTOR(g);
  PARAMETER_VECTOR(beta);
  PARAMETER(logsd);
  PARAMETER(logsigma);
  PARAMETER_VECTOR(b);
  Type nll = -sum(dnorm(b, Type(0), exp(logsd), true));
  vector<Type> eta = X * beta;
  Type sigma = exp(logsigma);
  for (int i = 0; i < y.size(); i++) {
    Type mu = exp(eta(i) + b(g(i)));
    Type v = log(Type(1) + pow(sigma / mu, 2));
    nll -= dnorm(log(y(i)), log(mu) - v / Type(2), sqrt(v), true) - log(y(i));
  }
  return nll;
}
