{
  "targets": [
    {
      "target_name": "xio",
      "sources": [
        "native/addon.cc",
        "native/afpacket.cc",
        "native/endpoint.cc",
        "native/manager.cc",
        "native/os.cc",
        "native/region.cc",
        "native/state.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["-lrt", "-lpthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
