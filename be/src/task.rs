//! [`AbortOnDrop`]: a spawned task that is aborted when its owner drops it, so work started
//! for a query or a load never outlives what it was for.

use std::future::Future;

pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T: Send + 'static> AbortOnDrop<T> {
    pub fn spawn(fut: impl Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(fut))
    }

    /// Waits for the task's result.
    pub async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
