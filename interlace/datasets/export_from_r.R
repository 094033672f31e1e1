# Writes the shipped copies of R data sets that come straight from an R package (run from this
# folder: Rscript export_from_r.R). Factors are written as their labels; load_dataset() turns
# the columns listed in _DTYPES (interlace/datasets/__init__.py) back into categoricals.
#   soup.csv        ordinal's `soup` (1847 rows; SURENESS is the ordered factor 1 < ... < 6,
#                   written as its integer labels, which clmm() orders numerically)
#   Arabidopsis.csv lme4's `Arabidopsis` (625 rows; gen, rack and nutrient are stored as
#                   integers there and documented as factors: they are declared factors here)
suppressPackageStartupMessages({
  library(ordinal)
  library(lme4)
})

data(soup, package = "ordinal")
soup_out <- soup
soup_out$SURENESS <- as.integer(as.character(soup$SURENESS))
write.csv(soup_out, "soup.csv", row.names = FALSE)

data(Arabidopsis, package = "lme4")
write.csv(Arabidopsis, "Arabidopsis.csv", row.names = FALSE)

cat("wrote soup.csv (", nrow(soup), "rows) and Arabidopsis.csv (", nrow(Arabidopsis), "rows)\n")
cat("ordinal", as.character(packageVersion("ordinal")), "lme4",
    as.character(packageVersion("lme4")), "\n")
