module whalewatcher.local/go

go 1.19
