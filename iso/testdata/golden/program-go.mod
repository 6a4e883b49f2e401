module devk/prog

go 1.25.0

require example.com/prog/v3 v3.1.0

replace (
	github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e
	github.com/gorilla/mux v1.8.1 => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
)

exclude (
	github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible
)
