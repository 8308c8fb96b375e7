//! The edit log: every catalog change is one [`JournalEntry`] appended (and fsynced) to a
//! journal file under `meta_dir/journal/` before it is applied; a periodic image
//! (`meta_dir/image/image.<id>`) is a checkpoint that replay starts from. `image/VERSION`
//! holds the cluster id. Entry point: [`EditLog::open`] → [`EditLog::append`].

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::catalog::{Catalog, JournalEntry};
use crate::error::{FeError, Result};

/// Record header: payload length (u32), CRC32 of id+payload (u32), journal id (u64).
const HEADER: usize = 16;

/// The image: catalog state after applying every entry up to `journal_id`.
#[derive(serde::Deserialize)]
struct Image {
    journal_id: u64,
    catalog: Catalog,
}

/// What [`EditLog::checkpoint`] writes: the same shape as [`Image`], borrowing the catalog.
#[derive(serde::Serialize)]
struct ImageRef<'a> {
    journal_id: u64,
    catalog: &'a Catalog,
}

pub struct EditLog {
    meta_dir: PathBuf,
    file: File,
    next_id: u64,
    entries_since_image: u64,
    roll_num: u64,
    pub cluster_id: i64,
}

/// What [`EditLog::open`] recovered.
pub struct Recovered {
    pub log: EditLog,
    pub catalog: Catalog,
    pub replayed: u64,
}

impl EditLog {
    /// Opens `meta_dir` (creating a new cluster when empty), loads the newest image and
    /// replays the journal after it. A torn record at the end of the last journal file
    /// (a crash mid-append) is cut off; it was never acknowledged.
    pub fn open(meta_dir: &Path, roll_num: u64) -> Result<Recovered> {
        let image_dir = meta_dir.join("image");
        let journal_dir = meta_dir.join("journal");
        std::fs::create_dir_all(&image_dir)?;
        std::fs::create_dir_all(&journal_dir)?;
        let cluster_id = load_or_create_cluster_id(&image_dir)?;

        let (mut catalog, image_id) = match latest_numbered(&image_dir, "image.")? {
            Some((_, path)) => {
                let image: Image = serde_json::from_slice(&std::fs::read(&path)?)
                    .map_err(|e| FeError::Corrupt(format!("{}: {e}", path.display())))?;
                (image.catalog, image.journal_id)
            }
            None => (Catalog::default(), 0),
        };
        let mut last_id = image_id;
        let mut replayed = 0u64;
        let files = numbered_files(&journal_dir, "")?;
        let count = files.len();
        for (i, (_, path)) in files.iter().enumerate() {
            let is_last = i + 1 == count;
            let mut entries = Vec::new();
            let good_len = read_journal(path, &mut entries)?;
            let file_len = std::fs::metadata(path)?.len();
            if good_len < file_len {
                if !is_last {
                    return Err(FeError::Corrupt(format!(
                        "journal file {} is damaged at offset {good_len}",
                        path.display()
                    )));
                }
                warn!(file = %path.display(), good_len, file_len, "cutting torn journal tail");
                OpenOptions::new()
                    .write(true)
                    .open(path)?
                    .set_len(good_len)?;
            }
            for (id, entry) in entries {
                if id <= last_id {
                    continue;
                }
                if id != last_id + 1 {
                    return Err(FeError::Corrupt(format!(
                        "journal gap: expected id {}, found {id}",
                        last_id + 1
                    )));
                }
                catalog.apply(&entry);
                last_id = id;
                replayed += 1;
            }
        }
        let next_id = last_id + 1;
        let file = open_journal_file(&journal_dir, next_id)?;
        info!(
            image_id,
            replayed, last_id, cluster_id, "metadata recovered"
        );
        Ok(Recovered {
            log: EditLog {
                meta_dir: meta_dir.to_path_buf(),
                file,
                next_id,
                entries_since_image: replayed,
                roll_num: roll_num.max(1),
                cluster_id,
            },
            catalog,
            replayed,
        })
    }

    /// Id of the last appended entry.
    pub fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    /// Appends `entry` durably and returns its journal id.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<u64> {
        let id = self.next_id;
        let payload =
            serde_json::to_vec(entry).map_err(|e| FeError::Internal(format!("journal: {e}")))?;
        let len = u32::try_from(payload.len())
            .map_err(|_| FeError::Internal("journal entry too large".into()))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&id.to_le_bytes());
        crc.update(&payload);
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.extend_from_slice(&id.to_le_bytes());
        record.extend_from_slice(&payload);
        self.file.write_all(&record)?;
        self.file.sync_data()?;
        self.next_id += 1;
        self.entries_since_image += 1;
        Ok(id)
    }

    /// True when enough entries accumulated since the last image.
    pub fn wants_checkpoint(&self) -> bool {
        self.entries_since_image >= self.roll_num
    }

    /// Writes an image of `catalog` (which must reflect every appended entry), starts a
    /// new journal file and removes journal files and images the new image covers.
    pub fn checkpoint(&mut self, catalog: &Catalog) -> Result<()> {
        let journal_id = self.last_id();
        let image_dir = self.meta_dir.join("image");
        let journal_dir = self.meta_dir.join("journal");
        let tmp = image_dir.join("image.ckpt");
        let bytes = serde_json::to_vec(&ImageRef {
            journal_id,
            catalog,
        })
        .map_err(|e| FeError::Internal(format!("image: {e}")))?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, image_dir.join(format!("image.{journal_id}")))?;
        File::open(&image_dir)?.sync_all()?;
        self.file = open_journal_file(&journal_dir, self.next_id)?;
        for (id, path) in numbered_files(&image_dir, "image.")? {
            if id < journal_id {
                std::fs::remove_file(path)?;
            }
        }
        for (first, path) in numbered_files(&journal_dir, "")? {
            if first < self.next_id {
                std::fs::remove_file(path)?;
            }
        }
        self.entries_since_image = 0;
        info!(journal_id, bytes = bytes.len(), "checkpoint written");
        Ok(())
    }
}

fn open_journal_file(dir: &Path, first_id: u64) -> Result<File> {
    let path = dir.join(first_id.to_string());
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

/// Reads records until the end or the first damaged one; returns the good length.
fn read_journal(path: &Path, out: &mut Vec<(u64, JournalEntry)>) -> Result<u64> {
    let mut r = BufReader::new(File::open(path)?);
    let mut offset = 0u64;
    loop {
        let mut header = [0u8; HEADER];
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(offset),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut idb = [0u8; 8];
        idb.copy_from_slice(&header[8..16]);
        let id = u64::from_le_bytes(idb);
        let mut payload = vec![0u8; len];
        if r.read_exact(&mut payload).is_err() {
            return Ok(offset);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&id.to_le_bytes());
        h.update(&payload);
        if h.finalize() != crc {
            return Ok(offset);
        }
        let Ok(entry) = serde_json::from_slice::<JournalEntry>(&payload) else {
            return Ok(offset);
        };
        out.push((id, entry));
        offset += (HEADER + len) as u64;
    }
}

/// Files in `dir` named `<prefix><number>`, sorted by number.
fn numbered_files(dir: &Path, prefix: &str) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix(prefix)
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn latest_numbered(dir: &Path, prefix: &str) -> Result<Option<(u64, PathBuf)>> {
    Ok(numbered_files(dir, prefix)?.pop())
}

fn load_or_create_cluster_id(image_dir: &Path) -> Result<i64> {
    let path = image_dir.join("VERSION");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("clusterId="))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| FeError::Corrupt(format!("{} has no clusterId", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = i64::from(rand::random::<u32>() & 0x7fff_ffff).max(1);
            let token = uuid::Uuid::new_v4().simple().to_string();
            let mut f = File::create(&path)?;
            writeln!(f, "#{}", chrono::Utc::now().to_rfc2822())?;
            writeln!(f, "clusterId={id}")?;
            writeln!(f, "token={token}")?;
            f.sync_all()?;
            Ok(id)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(id: i64) -> JournalEntry {
        JournalEntry::CreateDatabase {
            id,
            name: format!("db{id}"),
            create_time_ms: 0,
        }
    }

    #[test]
    fn replays_after_restart_and_cuts_torn_tail() {
        let dir = tempfile::tempdir().expect("tmp");
        let cluster;
        {
            let mut r = EditLog::open(dir.path(), 100).expect("open");
            cluster = r.log.cluster_id;
            for i in 1..=3 {
                r.log.append(&db(i)).expect("append");
            }
        }
        // Simulate a crash in the middle of writing a record.
        let journal = dir.path().join("journal").join("1");
        let mut f = OpenOptions::new()
            .append(true)
            .open(&journal)
            .expect("open");
        f.write_all(&[9, 0, 0, 0, 1, 2]).expect("write");
        drop(f);
        let r = EditLog::open(dir.path(), 100).expect("reopen");
        assert_eq!(r.catalog.databases.len(), 3);
        assert_eq!(r.log.last_id(), 3);
        assert_eq!(r.log.cluster_id, cluster);
    }

    #[test]
    fn checkpoint_then_replay_tail() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let mut r = EditLog::open(dir.path(), 2).expect("open");
            let mut catalog = r.catalog;
            for i in 1..=5 {
                let e = db(i);
                r.log.append(&e).expect("append");
                catalog.apply(&e);
                if r.log.wants_checkpoint() {
                    r.log.checkpoint(&catalog).expect("checkpoint");
                }
            }
            r.log
                .append(&JournalEntry::DropDatabase { id: 1 })
                .expect("append");
        }
        let r = EditLog::open(dir.path(), 2).expect("reopen");
        assert_eq!(r.catalog.databases.len(), 4);
        assert!(r.replayed <= 2, "replay starts from the image");
        assert_eq!(r.log.last_id(), 6);
    }
}
