"""What every fitted model shares: convergence checks and likelihood-ratio comparison."""
