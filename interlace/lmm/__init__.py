"""Linear mixed models (``interlace.fit``): lme4's profiled REML / ML deviance."""
