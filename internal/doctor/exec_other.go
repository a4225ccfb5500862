//go:build !linux

package doctor

import (
	"context"
	"errors"
	"os"
)

var errLinuxOnly = errors.New("doctor: trying the doors as another user needs Linux")

func probeProgram() (*os.File, error) { return nil, errLinuxOnly }

func probeAs(context.Context, *os.File, User, plan) ([]observation, error) {
	return nil, errLinuxOnly
}
