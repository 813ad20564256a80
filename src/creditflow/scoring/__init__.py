"""Points scaling, grades, and scoring of tables and single applicants."""

from creditflow.scoring.scaling import DEFAULT_BANDS, Grades, Scaling

__all__ = ["DEFAULT_BANDS", "Grades", "Scaling"]
