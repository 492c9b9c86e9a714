//! What each way of failing to load or run a module is to the user: whose fault, and
//! what to do about it.

use super::RuntimeError;
use crate::error::{Diagnose, ErrorKind, Hint};

impl Diagnose for RuntimeError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::NotWasm { .. }
            | RuntimeError::Invalid { .. }
            | RuntimeError::CoreModule { .. }
            | RuntimeError::WrongWorld { .. }
            | RuntimeError::UnsupportedApi { .. }
            | RuntimeError::LockOutOfDate { .. }
            | RuntimeError::InvalidSchema(_) => ErrorKind::User,
            RuntimeError::CpuBudgetExceeded { .. }
            | RuntimeError::MemoryExceeded { .. }
            | RuntimeError::HostMemoryExceeded { .. }
            | RuntimeError::TooManyObjects { .. }
            | RuntimeError::Timeout { .. }
            | RuntimeError::StackOverflow { .. }
            | RuntimeError::TooMuchData { .. }
            | RuntimeError::Trap { .. }
            | RuntimeError::CallDepth { .. }
            | RuntimeError::UnknownDependency { .. } => ErrorKind::Pipeline,
            RuntimeError::Dependency { error, .. } => error.kind(),
            RuntimeError::Pipeline(error) => error.kind(),
            RuntimeError::Internal { .. } => ErrorKind::Internal,
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            RuntimeError::NotWasm { .. } | RuntimeError::Invalid { .. } => Some(Hint::BuildWithSdk),
            RuntimeError::CoreModule { .. } => Some(Hint::BuildForWasip2),
            RuntimeError::WrongWorld { .. } => Some(Hint::UseTantoWorld),
            RuntimeError::UnsupportedApi { found, newer: true, .. } => Some(Hint::UpgradeTantoFor { api: found.clone() }),
            RuntimeError::UnsupportedApi { newer: false, .. } => Some(Hint::RebuildWithThisSdk),
            RuntimeError::CpuBudgetExceeded { .. } => Some(Hint::RaiseCpuLimit),
            RuntimeError::MemoryExceeded { .. } => Some(Hint::RaiseMemoryLimit),
            RuntimeError::HostMemoryExceeded { .. } => Some(Hint::DropObjectsOrRaiseMemory),
            RuntimeError::TooManyObjects { .. } => Some(Hint::DropObjects),
            RuntimeError::Timeout { .. } => Some(Hint::RaiseTimeout),
            RuntimeError::StackOverflow { .. } => Some(Hint::EndlessRecursion),
            RuntimeError::TooMuchData { .. } => Some(Hint::SmallerCalls),
            RuntimeError::Trap { .. } | RuntimeError::CallDepth { .. } => None,
            RuntimeError::UnknownDependency { .. } => Some(Hint::DeclareDependency),
            RuntimeError::LockOutOfDate { .. } => Some(Hint::Registry(tanto_registry::Hint::RunInstall)),
            RuntimeError::Dependency { error, .. } => error.hint(),
            RuntimeError::InvalidSchema(_) => Some(Hint::FixSchema),
            RuntimeError::Pipeline(error) => error.hint(),
            RuntimeError::Internal { .. } => Some(Hint::ReportBug),
        }
    }
}
