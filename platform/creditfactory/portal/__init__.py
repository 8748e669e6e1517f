"""Staff portal shell: shared layout, language selection and catalogues, static assets."""
