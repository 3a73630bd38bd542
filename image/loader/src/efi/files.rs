//! Reading files from the partition the loader was started from (the
//! `boot():` resource), via the loaded image's device and UEFI's simple
//! file system protocol.

use alloc::string::String;
use alloc::vec;

use uefi::proto::media::file::{Directory, File, FileAttribute, FileInfo, FileMode, RegularFile};
use uefi::{CString16, Status, boot};

use super::error::{BootError, Problem};
use super::memory::PageBlock;

/// Largest config file accepted (it is read into pool memory).
const MAX_TEXT_SIZE: u64 = 1024 * 1024;

/// The boot partition's root directory.
pub struct BootVolume {
    root: Directory,
}

/// A file loaded into its own pages.
pub struct LoadedFile {
    pub block: PageBlock,
    pub size: u64,
}

impl LoadedFile {
    pub fn contents(&mut self) -> &mut [u8] {
        let size = self.size as usize;
        &mut self.block.bytes()[..size]
    }
}

impl BootVolume {
    /// Opens the partition the loader image came from.
    pub fn open() -> Result<Self, BootError> {
        let fail = |s: Status| BootError::new("boot()", Problem::NoFileSystem(s));
        let mut fs =
            boot::get_image_file_system(boot::image_handle()).map_err(|e| fail(e.status()))?;
        let root = fs.open_volume().map_err(|e| fail(e.status()))?;
        Ok(Self { root })
    }

    /// Opens `path` (`/`-separated, leading `/`); `shown` names it in errors.
    fn open_file(&mut self, path: &str, shown: &str) -> Result<RegularFile, BootError> {
        let uefi_path: String = path.replace('/', "\\");
        let name = CString16::try_from(uefi_path.as_str())
            .map_err(|_| BootError::new(shown, Problem::BadPathCharacters))?;
        let handle = self
            .root
            .open(&name, FileMode::Read, FileAttribute::empty())
            .map_err(|e| match e.status() {
                Status::NOT_FOUND => BootError::new(shown, Problem::FileNotFound),
                other => BootError::new(shown, Problem::Read(other)),
            })?;
        handle
            .into_regular_file()
            .ok_or_else(|| BootError::new(shown, Problem::IsDirectory))
    }

    /// Whether a regular file exists at `path`.
    pub fn exists(&mut self, path: &str) -> bool {
        self.open_file(path, path).is_ok()
    }

    fn size_of(file: &mut RegularFile, shown: &str) -> Result<u64, BootError> {
        let info = file
            .get_boxed_info::<FileInfo>()
            .map_err(|e| BootError::new(shown, Problem::Read(e.status())))?;
        Ok(info.file_size())
    }

    fn read_all(file: &mut RegularFile, buffer: &mut [u8], shown: &str) -> Result<(), BootError> {
        let mut done = 0;
        while done < buffer.len() {
            let n = file
                .read(&mut buffer[done..])
                .map_err(|e| BootError::new(shown, Problem::Read(e.status())))?;
            if n == 0 {
                return Err(BootError::new(shown, Problem::Read(Status::END_OF_FILE)));
            }
            done += n;
        }
        Ok(())
    }

    /// Reads a small text file (the config) into pool memory.
    pub fn read_text(&mut self, path: &str) -> Result<String, BootError> {
        let mut file = self.open_file(path, path)?;
        let size = Self::size_of(&mut file, path)?;
        if size > MAX_TEXT_SIZE {
            return Err(BootError::new(path, Problem::TooLarge(MAX_TEXT_SIZE)));
        }
        let mut bytes = vec![0u8; size as usize];
        Self::read_all(&mut file, &mut bytes, path)?;
        String::from_utf8(bytes).map_err(|_| BootError::new(path, Problem::NotUtf8))
    }

    /// Reads a file into freshly allocated pages; `shown` (the config's
    /// URI) names it in errors.
    pub fn load(&mut self, path: &str, shown: &str) -> Result<LoadedFile, BootError> {
        let mut file = self.open_file(path, shown)?;
        let size = Self::size_of(&mut file, shown)?;
        let mut block = PageBlock::allocate(size, shown)?;
        Self::read_all(&mut file, &mut block.bytes()[..size as usize], shown)?;
        Ok(LoadedFile { block, size })
    }
}
