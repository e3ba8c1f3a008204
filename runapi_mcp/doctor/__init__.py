"""`runapi-mcp doctor`: where the key comes from, whether RunAPI answers, the balance, the folders, the hosts."""

from runapi_mcp.doctor.report import Check, Report
from runapi_mcp.doctor.runner import add_arguments, doctor, run, run_doctor

__all__ = ["Check", "Report", "add_arguments", "doctor", "run", "run_doctor"]
