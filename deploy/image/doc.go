// Package image holds the test of patchwell's container image: it builds
// the image with mkimage, unpacks its root file system and runs the
// README's Quick start against it under bubblewrap. The image builder
// itself is the command in mkimage/ (make image).
package image
