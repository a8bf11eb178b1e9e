"""What the mirror tells: at-risk scores (`risk`, from a versioned TOML
policy compiled to one SQL statement), the archivist's worklist, release
view and curation marks (`curation`), the summary report (`report`), what
packages and library records need (`preservation`), and the web pages'
extra reads (`revisions`)."""
