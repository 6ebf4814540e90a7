"""The auditor's report per period (`openecon audit --period 2025Q3`): HTML and XLSX."""
