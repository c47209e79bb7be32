# KPI snapshot models arrive with the KPI engine (issue 4).
