//! Placeholder: the workload generator.
