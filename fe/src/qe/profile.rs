//! Query profiles (`SET enable_profile = true`, `EXPLAIN ANALYZE`): every fragment instance
//! reports its operators with rows, times and memory when it ends; the coordinator files
//! them here. `SHOW QUERY PROFILE "/"` lists the recent ones, `SHOW QUERY PROFILE
//! "/<query id>"` shows one.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Profiles kept (the oldest is dropped first).
const KEEP: usize = 100;

/// One fragment instance's report.
#[derive(Debug, Clone)]
pub struct FragmentProfile {
    pub fragment_id: i32,
    pub backend: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct QueryProfile {
    pub query_id: String,
    pub user: String,
    pub db: String,
    pub sql: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub state: String,
    pub fragments: Vec<FragmentProfile>,
}

impl QueryProfile {
    /// The profile as text lines: a summary, then each fragment instance's operators.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            "Summary:".to_string(),
            format!("  - Profile ID: {}", self.query_id),
            format!("  - Total: {} ms", self.end_ms - self.start_ms),
            format!("  - Query State: {}", self.state),
            format!("  - User: {}", self.user),
            format!("  - Default Db: {}", self.db),
            format!("  - Sql Statement: {}", self.sql),
            "Execution Profile:".to_string(),
        ];
        let mut fragments = self.fragments.clone();
        fragments.sort_by(|a, b| (a.fragment_id, &a.backend).cmp(&(b.fragment_id, &b.backend)));
        for f in fragments {
            out.push(format!("  Instance on backend {}:", f.backend));
            out.extend(f.text.lines().map(|l| format!("    {l}")));
        }
        out
    }
}

#[derive(Default)]
pub struct ProfileStore {
    recent: Mutex<VecDeque<QueryProfile>>,
}

impl ProfileStore {
    pub fn add(&self, profile: QueryProfile) {
        let mut recent = self.recent.lock();
        if recent.len() >= KEEP {
            recent.pop_front();
        }
        recent.push_back(profile);
    }

    /// Newest first.
    pub fn list(&self) -> Vec<QueryProfile> {
        self.recent.lock().iter().rev().cloned().collect()
    }

    pub fn get(&self, query_id: &str) -> Option<QueryProfile> {
        self.recent
            .lock()
            .iter()
            .find(|p| p.query_id == query_id)
            .cloned()
    }
}
