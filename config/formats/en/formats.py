# One date format per language, in cards, tables and timelines alike
# (Django's English mixes "Nov. 29, 2026" and "11/29/2026").
DATE_FORMAT = "M j, Y"
SHORT_DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y, H:i"
SHORT_DATETIME_FORMAT = "M j, Y, H:i"
