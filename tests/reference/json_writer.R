# JSON writer of the ordinal reference scripts (sourced with source("json_writer.R") from this
# folder): numbers as the shortest of 15/16/17 significant digits that round-trips, matrices as
# lists of rows, named lists as objects.
suppressPackageStartupMessages(library(jsonlite))

num_str <- function(x) {
  if (is.na(x) || is.nan(x)) return("null")
  if (is.infinite(x)) stop("infinite value cannot be written as JSON")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) break
  }
  s
}
str_str <- function(x) if (is.na(x)) "null" else as.character(toJSON(x, auto_unbox = TRUE))
scalar_str <- function(x) {
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(num_str(as.numeric(x)))
  str_str(as.character(x))
}
to_json <- function(x, indent = 0L) {
  pad <- strrep("  ", indent + 1L); pad0 <- strrep("  ", indent)
  if (is.null(x)) return("null")
  if (is.matrix(x)) return(to_json(lapply(seq_len(nrow(x)), function(i) I(x[i, ])), indent))
  if (is.list(x)) {
    nm <- names(x)
    if (length(x) == 0L) return(if (is.null(nm)) "[]" else "{}")
    items <- vapply(x, to_json, "", indent = indent + 1L)
    if (!is.null(nm)) {
      items <- paste0(vapply(nm, str_str, ""), ": ", items)
      return(paste0("{\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "}"))
    }
    return(paste0("[\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "]"))
  }
  if (length(x) == 1L && !inherits(x, "AsIs")) return(scalar_str(x))
  paste0("[", paste(vapply(unclass(x), scalar_str, ""), collapse = ", "), "]")
}
named_list <- function(v) as.list(setNames(as.numeric(v), names(v)))
